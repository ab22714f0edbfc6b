"""Sessions expire, their number and memory are bounded, and seed 004's rate limits hold: each
against its own `cifer inference` process with the setting made small."""

from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
import pytest

from cifer.fhe import AsyncFHEClient, FHEClient
from cifer.fhe.client import FHEServiceError
from cifer.fhe.keys import CkksKeyring, default_steps
from inference.processes import inference_process
from inference.raw import call, infer_body, register_body

TTL_S = 1.0


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bounds")


def test_an_idle_session_expires_and_its_place_is_freed(log_dir, heldout):
    x = heldout[0][0]
    with inference_process(log_dir, "--session-ttl", str(TTL_S), "--max-sessions", "1") as url:
        first, second = FHEClient(url), FHEClient(url)
        for fhe in (first, second):
            fhe.setup()
        first.register_keys()
        assert first.infer("demo-linear-classifier", x).predicted_class == 0
        with pytest.raises(FHEServiceError) as full:
            second.register_keys()
        assert full.value.status == 503 and full.value.retry_after_s and "capacity" in full.value.detail
        time.sleep(TTL_S + 0.5)
        blob = first._session.keyring.encrypt(np.resize(x, 4096), size=64, depth=1)
        code, doc, _ = call(url, "POST", "/v1/infer", infer_body(first.session_id, blob))
        assert (code, doc) == (404, {"detail": "Session not found or expired"})
        # the client registers again on its own and the request goes through
        assert first.infer("demo-linear-classifier", x).predicted_class == 0
        first.close()  # deleted: the place is free at once
        second.register_keys()
        second.close()
        x, y = heldout
        asyncio.run(_async_client_registers_once_again(url, [x[y == digit][0] for digit in (0, 1, 2)]))


async def _async_client_registers_once_again(url, x):
    async with AsyncFHEClient(url) as fhe:
        await fhe.setup()
        await fhe.register_keys()
        await asyncio.sleep(TTL_S + 0.5)
        results = await asyncio.gather(*(fhe.infer("demo-linear-classifier", row) for row in x))
        assert [r.predicted_class for r in results] == [0, 1, 2]
        assert fhe._registrations == 2  # concurrent callers that found the session expired registered once


def test_session_memory_is_bounded(log_dir):
    """FHEClient's keys at the default parameters take about 18 MiB; the bound is 30 MiB."""
    with inference_process(log_dir, "--max-sessions-mib", "30") as url:
        first, second = FHEClient(url), FHEClient(url)
        for fhe in (first, second):
            fhe.setup()
        first.register_keys()
        with pytest.raises(FHEServiceError) as full:
            second.register_keys()
        assert full.value.status == 503 and "memory" in full.value.detail and full.value.retry_after_s
        first.close()
        second.register_keys()
        second.close()
        # every Galois key of the ring (12 of them, about 34 MiB) would not fit even alone
        whole = CkksKeyring(galois_steps=default_steps(4096))
        code, doc, _ = call(url, "POST", "/v1/keys/register", register_body(whole.public_context))
        assert code == 413 and "exceed" in doc["detail"]


def test_a_registration_body_beyond_the_bound_is_413(log_dir):
    with inference_process(log_dir, "--max-register-body-mib", "1") as url:
        keyring = CkksKeyring(galois_steps=(1,))
        code, doc, _ = call(url, "POST", "/v1/keys/register", register_body(keyring.public_context))
        assert code == 413 and set(doc) == {"detail"}
        assert call(url, "GET", "/v1/health")[0] == 200


def test_the_seeds_rate_limits_are_enforced_by_default(log_dir):
    """Health unlimited; models 100/min; register 10/min per address; inference 60/min per session."""
    with inference_process(log_dir) as url:
        for _ in range(150):
            assert call(url, "GET", "/v1/health")[0] == 200
        keyring = CkksKeyring(galois_steps=(1, 2, 4, 8, 16, 32))
        body = register_body(keyring.public_context)
        assert call(url, "POST", "/v1/keys/register", body)[0] == 201
        junk = infer_body(body["session_id"], b"junk")
        for _ in range(60):  # refused requests count too
            assert call(url, "POST", "/v1/infer", junk)[0] == 400
        code, doc, headers = call(url, "POST", "/v1/infer", junk)
        assert code == 429 and "Rate limit exceeded" in doc["detail"] and int(headers["Retry-After"]) >= 1
        other = register_body(keyring.public_context)  # another session has its own 60
        assert call(url, "POST", "/v1/keys/register", other)[0] == 201
        assert call(url, "POST", "/v1/infer", infer_body(other["session_id"], b"junk"))[0] == 400
        for _ in range(8):
            assert call(url, "POST", "/v1/keys/register", {"session_id": str(uuid.uuid4())})[0] == 422
        code, doc, headers = call(url, "POST", "/v1/keys/register", body)
        assert code == 429 and set(doc) == {"detail"} and "Retry-After" in headers
        for _ in range(100):
            assert call(url, "GET", "/v1/models")[0] == 200
        code, doc, headers = call(url, "GET", "/v1/models")
        assert code == 429 and "Retry-After" in headers
