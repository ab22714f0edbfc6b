"""The sidecar's client reads a key service's answer whole, however it arrives, and within its bound."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode
from cifer_proxy import keyservice
from cifer_proxy.keyservice import KeyServiceClient

LONG = "x" * 200_000


async def _in_two_pieces(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"success": true, "data": "')
    await asyncio.sleep(0.05)  # the client has the first piece before the second is sent
    await resp.write(LONG.encode() + b'"}')
    await resp.write_eof()
    return resp


@pytest.fixture
async def client(aiohttp_server):
    app = web.Application()
    app.router.add_get("/v1/audit", _in_two_pieces)
    server = await aiohttp_server(app)
    made = KeyServiceClient(str(server.make_url("")), timeout_s=10)
    yield made
    await made.close()


async def test_an_answer_that_arrives_in_pieces_is_read_whole(client):
    status, answer, _ = await client.call("GET", "/v1/audit")
    assert status == 200 and json.loads(answer)["data"] == LONG


async def test_an_answer_past_the_bound_is_a_503(client, monkeypatch):
    monkeypatch.setattr(keyservice, "MAX_ANSWER_BYTES", len(LONG) // 2)
    with pytest.raises(ApiError) as raised:
        await client.call("GET", "/v1/audit")
    assert raised.value.code is ErrorCode.SERVICE_UNAVAILABLE
