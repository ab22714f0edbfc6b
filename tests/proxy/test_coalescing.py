"""The sidecar coalesces its concurrent decrypts into batched /v1/decapsulate calls, one credential
per call, each caller answered with its own result; and what crosses between sidecar and key
service holds no data key. A recording relay sits between the sidecar and a real key service."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json

import pytest
from aiohttp import web

from cifer.envelope import encrypt
from cifer.settings.sidecar import SidecarSettings
from cifer_proxy.app import create_app
from keyrelease_helpers import data_key_of, decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient

N = 16


@dataclasses.dataclass
class Call:
    authorization: str
    headers: list[str]
    answer: bytes


@pytest.fixture
async def relay(keyservice, aiohttp_server):
    """An HTTP relay to the key service that records every /v1/decapsulate call and its answer."""
    calls: list[Call] = []
    target = keyservice.client

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        resp = await target.request(request.method, request.path_qs, headers=headers, data=body)
        answer = await resp.read()
        if request.path == "/v1/decapsulate":
            calls.append(Call(request.headers.get("Authorization", ""), json.loads(body)["headers"], answer))
        return web.Response(status=resp.status, body=answer, headers={
            k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "retry-after")
            or k.lower().startswith("x-ratelimit")})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    server = await aiohttp_server(app)
    return str(server.make_url("")), calls


@pytest.fixture
async def sidecar(relay, aiohttp_client):
    url, _ = relay
    return await aiohttp_client(create_app(SidecarSettings(keyservice_url=url, decap_batch_window_ms=2.0, grpc_port=0)))


async def _envelopes(keyservice, auth, n: int, cid: str | None = None) -> list[bytes]:
    cid = cid or await new_cifer(keyservice, auth)
    to = await recipient(keyservice, cid)
    return [encrypt(to, f"secret {i}".encode()) for i in range(n)]


async def _decrypt(sidecar, auth, envelope: bytes):
    resp = await sidecar.post("/v1/decrypt", json={"ciphertext": b64(envelope)}, headers=auth)
    return resp.status, await resp.json()


async def test_concurrent_decrypts_go_in_fewer_calls_and_each_caller_gets_its_plaintext(keyservice, relay, sidecar):
    _, calls = relay
    alice = await keyservice.api_key("usr_alice")
    envelopes = await _envelopes(keyservice, alice, N)
    answers = await asyncio.gather(*(_decrypt(sidecar, alice, e) for e in envelopes))
    for i, (status, body) in enumerate(answers):
        assert status == 200, body
        assert base64.b64decode(body["data"]["plaintext"]) == f"secret {i}".encode()
    assert sum(len(call.headers) for call in calls) == N
    assert len(calls) < N / 2, [len(call.headers) for call in calls]


async def test_in_a_mixed_batch_only_the_revoked_and_the_forbidden_callers_fail(keyservice, relay, sidecar):
    _, calls = relay
    alice, bob = await keyservice.api_key("usr_alice"), await keyservice.api_key("usr_bob")
    good = await _envelopes(keyservice, alice, 6)
    revoked_cid = await new_cifer(keyservice, alice)
    (revoked,) = await _envelopes(keyservice, alice, 1, revoked_cid)
    (forbidden,) = await _envelopes(keyservice, bob, 1)
    await keyservice.call("DELETE", f"/v1/cifers/{revoked_cid}", headers={**alice, "X-Confirm-Revocation": "true"},
                          expect=200)
    mixed = [*good[:3], revoked, forbidden, *good[3:]]
    answers = await asyncio.gather(*(_decrypt(sidecar, alice, e) for e in mixed))
    codes = [(status, body["error"]["code"] if status != 200 else None) for status, body in answers]
    assert codes == [(200, None)] * 3 + [(410, "CIFER_REVOKED"), (403, "UNAUTHORIZED_DECRYPT")] + [(200, None)] * 3
    assert max(len(call.headers) for call in calls) > 1  # they were asked together


async def test_two_credentials_never_share_a_call(keyservice, relay, sidecar):
    _, calls = relay
    alice, bob = await keyservice.api_key("usr_alice"), await keyservice.api_key("usr_bob")
    mine, theirs = await _envelopes(keyservice, alice, N // 2), await _envelopes(keyservice, bob, N // 2)
    answers = await asyncio.gather(*(_decrypt(sidecar, who, e) for pair in zip(
        [(alice, e) for e in mine], [(bob, e) for e in theirs]) for who, e in pair))
    assert [status for status, _ in answers] == [200] * N
    owner = {b64(header_of(e)): alice["Authorization"] for e in mine} | {
        b64(header_of(e)): bob["Authorization"] for e in theirs}
    for call in calls:
        assert {owner[h] for h in call.headers} == {call.authorization}
    assert len(calls) < N


async def test_a_refused_credential_fails_every_caller_of_its_call_alike(keyservice, relay, sidecar):
    _, calls = relay
    alice = await keyservice.api_key("usr_alice")
    envelopes = await _envelopes(keyservice, alice, 4)
    wrong = {"Authorization": "Bearer cifer_sk_test_" + "x" * 32}
    answers = await asyncio.gather(*(_decrypt(sidecar, wrong, e) for e in envelopes))
    assert {(status, body["error"]["code"]) for status, body in answers} == {(401, "UNAUTHORIZED")}
    assert len(calls) < len(envelopes)


async def test_what_crosses_to_the_key_service_holds_no_data_key(keyservice, relay, sidecar):
    _, calls = relay
    alice = await keyservice.api_key("usr_alice")
    envelopes = await _envelopes(keyservice, alice, 4)
    answers = await asyncio.gather(*(_decrypt(sidecar, alice, e) for e in envelopes))
    assert [status for status, _ in answers] == [200] * 4
    headers = [b64(header_of(e)) for e in envelopes]
    _, direct = await keyservice.call("POST", "/v1/decapsulate", json=decap_body(headers), headers=alice, expect=200)
    keys = [data_key_of(result, header) for result, header in zip(direct["data"]["results"], headers)]
    recorded = b"".join(call.answer + json.dumps(call.headers).encode() for call in calls)
    assert any(b"sealed_data_key" in call.answer for call in calls)
    for key in keys:
        for spelling in (key, base64.b64encode(key), key.hex().encode(), base64.urlsafe_b64encode(key).rstrip(b"=")):
            assert spelling not in recorded


async def test_a_sidecar_with_an_ml_kem_recipient_decrypts(keyservice, relay, aiohttp_client):
    url, calls = relay
    sidecar = await aiohttp_client(create_app(SidecarSettings(
        keyservice_url=url, recipient_suite="ml-kem-768-hkdf-sha256-aes-256-gcm", grpc_port=0)))
    alice = await keyservice.api_key("usr_alice")
    envelopes = await _envelopes(keyservice, alice, 3)
    answers = await asyncio.gather(*(_decrypt(sidecar, alice, e) for e in envelopes))
    assert [status for status, _ in answers] == [200] * 3
    sealed = [r["sealed_data_key"] for call in calls for r in json.loads(call.answer)["data"]["results"]]
    assert [len(base64.b64decode(s)) for s in sealed] == [1136] * 3  # ML-KEM-768 enc, data key, tag
