"""`cifer.api.server`: aiohttp's parser limits and its answer to an unparsable request, replaced
through a request-handler subclass (aiohttp has no public hook). Pinned here, in process, so an
aiohttp upgrade that moves what it overrides fails in one place."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from rawhttp import exchange, request_head

from cifer.api.credentials import MAX_TOKEN_CHARS
from cifer.api.middleware import new_app
from cifer.api.server import AppRunner


async def _echo_authorization(request: web.Request) -> web.Response:
    return web.json_response({"chars": len(request.headers.get("Authorization", ""))})


async def _serve(render=None):
    app = new_app(max_body_bytes=1024)
    app.router.add_get("/echo", _echo_authorization)
    runner = AppRunner(app, **({"render": render} if render else {}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def test_an_authorization_holding_the_longest_token_arrives():
    runner, port = await _serve()
    try:
        value = "Bearer " + "t" * MAX_TOKEN_CHARS
        answer = await exchange(port, request_head("GET", "/echo", "localhost", [("Authorization", value),
                                                                                  ("Connection", "close")]))
        assert answer.status == 200 and answer.json() == {"chars": len(value)}
    finally:
        await runner.cleanup()


async def test_a_longer_line_is_a_json_400_that_echoes_and_logs_none_of_it(caplog):
    runner, port = await _serve()
    try:
        with caplog.at_level(logging.DEBUG):
            answer = await exchange(port, request_head("GET", "/echo", "localhost", [
                ("Authorization", "Bearer SECRET" + "t" * (2 * MAX_TOKEN_CHARS))]))
        assert answer.status == 400 and answer.closed
        body = answer.json()
        assert body["success"] is False and body["error"]["code"] == "INVALID_REQUEST"
        assert answer.headers["x-request-id"] == body["meta"]["request_id"]
        assert b"SECRET" not in answer.body
        assert "SECRET" not in caplog.text and not any(r.exc_info for r in caplog.records)
    finally:
        await runner.cleanup()


async def test_a_server_renders_the_refusal_in_its_own_body():
    runner, port = await _serve(render=lambda request, status, message: web.json_response({"detail": message},
                                                                                           status=status))
    try:
        answer = await exchange(port, b"GET /" + b"p" * (3 * MAX_TOKEN_CHARS) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.status == 400 and set(json.loads(answer.body)) == {"detail"}
    finally:
        await runner.cleanup()
