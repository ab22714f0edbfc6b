"""The injection webhook's server at its edge, as every CIFER server (issue 15, defects 4 and 5):
an over-long header line is a JSON 400 echoing none of it, and a review announced larger than
the bound is a 413 at once, before any body is read. Raw sockets, the real app and runner (here
without TLS, which changes neither)."""

from __future__ import annotations

from aiohttp import web
from cifer_operator.admission import MAX_REVIEW_BYTES, new_runner
from cifer_operator.injection import InjectorSettings
from rawhttp import exchange, request_head

SETTINGS = InjectorSettings(image="cifer:test", keyservice_url="https://ks:8081")


async def no_names(namespace: str) -> dict[str, str]:
    return {}


async def _serve():
    runner = new_runner(SETTINGS, no_names)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def test_an_over_long_header_line_is_a_json_400_that_echoes_none_of_it():
    runner, port = await _serve()
    try:
        answer = await exchange(port, request_head("POST", "/inject/pod", "localhost", [
            ("Authorization", "Bearer SECRET" + "t" * 40_000)]))
        assert answer.status == 400 and answer.closed
        assert "message" in answer.json() and b"SECRET" not in answer.body
    finally:
        await runner.cleanup()


async def test_a_review_announced_too_large_is_a_413_before_its_body_is_sent():
    runner, port = await _serve()
    try:
        head = request_head("POST", "/inject/pod", "localhost", [
            ("Content-Type", "application/json"), ("Content-Length", str(MAX_REVIEW_BYTES + 1))])
        answer = await exchange(port, head)  # no body follows: an answer proves none was awaited
        assert answer.status == 413 and answer.closed
        assert str(MAX_REVIEW_BYTES) in answer.json()["message"]
    finally:
        await runner.cleanup()
