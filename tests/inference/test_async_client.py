"""AsyncFHEClient, as the sidecar uses it: keys in the pod, concurrent inferences."""

from __future__ import annotations

import asyncio

import numpy as np

from cifer.fhe import AsyncFHEClient


async def test_the_async_client_infers_concurrently_and_deletes_its_session(service, models, heldout):
    x = heldout[0][:4]
    async with AsyncFHEClient(service) as fhe:
        await fhe.setup()
        await fhe.register_keys()
        singles = await asyncio.gather(*(fhe.infer("digits-logistic-poly3", row) for row in x))
        batch = await fhe.infer_batch("digits-logistic-poly3", x)
        expected = models["digits-logistic-poly3"].scores(x)
        for got in (np.array([r.scores for r in singles]), np.array([r.scores for r in batch])):
            assert np.abs(got - expected).max() < 1e-3
        session_id = fhe.session_id
    async with AsyncFHEClient(service) as other:  # close() deleted the session on the service
        status = await _delete(other, session_id)
    assert status == 404


async def _delete(fhe: AsyncFHEClient, session_id: str) -> int:
    from cifer.fhe.client import FHEServiceError
    try:
        await fhe._call("DELETE", f"/v1/keys/{session_id}")
    except FHEServiceError as exc:
        return exc.status
    return 200
