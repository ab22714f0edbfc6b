"""The sidecar's batch callbacks hold a bounded number of batches at once (each may hold a whole
batch body); past it a batch with a callback is refused 429 with Retry-After, before any work."""

from __future__ import annotations

import asyncio

from cifer_proxy import callbacks
from cifer_proxy.callbacks import Callbacks


async def test_work_under_way_is_bounded_and_cancelled_at_close():
    held = Callbacks(timeout_s=1, allow_private_networks=False)
    release = asyncio.Event()
    started = []

    async def work():
        started.append(1)
        await release.wait()

    for _ in range(callbacks.MAX_PENDING):
        assert not held.full
        held.later(work)
    await asyncio.sleep(0)
    assert held.full and len(started) == callbacks.MAX_PENDING
    release.set()
    await asyncio.sleep(0.01)
    assert not held.full  # done work leaves room
    release.clear()
    held.later(work)
    await held.close()  # the sidecar stops: what is under way is cancelled, nothing hangs
    assert not held.full
