"""The sidecar's /v1/infer end to end: an application posts plaintext features to the sidecar, the
sidecar encrypts them under its pod's CKKS key and calls the inference service, which is reached
here through a recording relay: the test reads every byte the service received and finds no
secret key and no plaintext in it."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
import tenseal
from aiohttp import web

from cifer.fhe.wire import parse_context
from ports import free_port
from proxy.processes import Api, keyservice_process, sidecar_process

MODEL = "demo-linear-classifier"


class Relay:
    """Forwards every request to the service and keeps its body."""

    def __init__(self, target: str) -> None:
        self.target, self.bodies = target, []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append((request.method, request.path, body))
        async with aiohttp.ClientSession() as http, http.request(
                request.method, self.target + request.path_qs, data=body or None,
                headers={"Content-Type": "application/json"} if body else None) as resp:
            return web.Response(status=resp.status, body=await resp.read(), content_type=resp.content_type)


@pytest.fixture
async def relay(service) -> AsyncIterator[Relay]:
    relay = Relay(service)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", relay.forward)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", relay.port).start()
    yield relay
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def digits_of(data: bytes, features: list[float]) -> bool:
    """Whether `data` holds the features in any plain spelling: JSON numbers, float64 or float32."""
    as_text = [json.dumps(features), json.dumps(features, separators=(",", ":"))]
    as_bytes = [struct.pack(f"<{len(features)}d", *features), struct.pack(f"<{len(features)}f", *features)]
    return any(t.encode() in data for t in as_text) or any(b in data for b in as_bytes)


async def test_infer_through_the_sidecar_predicts_and_the_service_sees_no_key_and_no_plaintext(
        relay, http, tmp_path, models, heldout):
    xs, _ = heldout
    features = [float(v) for v in xs[0]]
    batch = [[float(v) for v in x] for x in xs[1:9]]
    with keyservice_process(tmp_path / "keyservice") as key_service, \
            sidecar_process(key_service.url, "--inference-url", relay.url) as sidecar:
        app = Api(http, sidecar, key_service.api_key("usr_app"))
        _, one = await app.call("POST", "/v1/infer", expect=200, json={"model_id": MODEL, "features": features})
        _, many = await app.call("POST", "/v1/infer", expect=200, json={"model_id": MODEL, "inputs": batch})

    model = models[MODEL]
    assert one["data"]["predicted_class"] == int(model.predict(np.array([features]))[0])
    assert len(one["data"]["scores"]) == 3 and one["data"]["encrypted"] is True
    assert [p["predicted_class"] for p in many["data"]["predictions"]] == [int(c) for c in model.predict(np.array(batch))]

    registered = [body for method, path, body in relay.bodies if path == "/v1/keys/register"]
    assert len(registered) == 1
    context = base64.b64decode(json.loads(registered[0])["context_b64"])
    assert parse_context(context).has_secret_key is False
    assert tenseal.context_from(context).is_private() is False  # TenSEAL's own reading agrees
    for _, _, body in relay.bodies:
        assert not digits_of(body, features) and not any(digits_of(body, x) for x in batch)


async def test_infer_errors_are_the_apis_codes(relay, http, tmp_path):
    with keyservice_process(tmp_path / "keyservice") as key_service, \
            sidecar_process(key_service.url, "--inference-url", relay.url) as sidecar, \
            sidecar_process(key_service.url) as without:
        app = Api(http, sidecar, key_service.api_key("usr_app"))
        for body, status, code in (
                ({"model_id": "no-such-model", "features": [0.0] * 64}, 404, "NOT_FOUND"),
                ({"model_id": MODEL, "features": [0.0] * 10}, 400, "INVALID_REQUEST"),
                ({"model_id": MODEL, "features": ["x"]}, 400, "INVALID_REQUEST"),
                ({"model_id": MODEL}, 400, "INVALID_REQUEST"),
                ({"features": [0.0] * 64}, 400, "INVALID_REQUEST")):
            resp, answer = await app.call("POST", "/v1/infer", json=body)
            assert (resp.status, answer["error"]["code"]) == (status, code), (body, answer)
        resp, answer = await Api(http, sidecar, None).call("POST", "/v1/infer", json={"model_id": MODEL})
        assert resp.status == 401
        resp, answer = await Api(http, without, key_service.api_key("usr_other")).call(
            "POST", "/v1/infer", json={"model_id": MODEL, "features": [0.0] * 64})
        assert resp.status == 503 and answer["error"]["code"] == "SERVICE_UNAVAILABLE"
