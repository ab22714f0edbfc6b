"""The injection webhook's server at its edge, as every CIFER server (issue 15, defects 4 and 5):
an over-long header line is a JSON 400 echoing none of it, and a review announced larger than
the bound is a 413 at once, before any body is read. Raw sockets, the real app and runner (here
without TLS, which changes neither)."""

from __future__ import annotations

import json

import aiohttp
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


async def test_every_review_is_counted_by_mode_and_outcome_on_metrics():
    runner, port = await _serve()
    base = f"http://127.0.0.1:{port}"

    def review(asked: dict, uid: str) -> dict:
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": uid, "namespace": "shop", "object": {"metadata": {"annotations": asked},
                                                        "spec": {"containers": [{"name": "app", "image": "a"}]}}}}
    try:
        async with aiohttp.ClientSession() as http:
            for asked, uid in (({"cifer.io/inject": "true"}, "1"), ({"cifer.io/inject": "true"}, "2"),
                                     ({}, "3"), ({"cifer.io/inject": "maybe"}, "4"),
                                     ({"cifer.io/inject": "true", "cifer.io/sidecar-mode": "native"}, "5")):
                async with http.post(f"{base}/inject/pod", data=json.dumps(review(asked, uid))) as resp:
                    assert resp.status == 200
            async with http.get(f"{base}/metrics") as resp:
                text = await resp.text()
    finally:
        await runner.cleanup()
    counted = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("cifer_injections_total")}
    assert counted == {'cifer_injections_total{mode="classic",outcome="injected"}': 2.0,
                       'cifer_injections_total{mode="none",outcome="skipped"}': 1.0,
                       'cifer_injections_total{mode="none",outcome="refused"}': 1.0,
                       'cifer_injections_total{mode="native",outcome="injected"}': 1.0}
