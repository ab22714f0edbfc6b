"""Seed 001's batch callbacks: the batch's result POSTed to the caller's URL, signed with the
secret it gave (`callback.authentication`) exactly as the key service signs webhooks
(`cifer.webhooks.signing`), within the same egress rules, tried `CALLBACK_ATTEMPTS` times. The
work of a queued batch runs here too, so that the sidecar's stop cancels what is still under way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cifer.api.security_schemas import CALLBACK_ATTEMPTS
from cifer.webhooks.sender import SignedSender

log = logging.getLogger("cifer.proxy")
USER_AGENT = "CIFER-Callbacks/1.0"
RETRY_DELAYS_S = (1.0, 2.0)  # between the attempts
MAX_PENDING = 16  # queued batches and callbacks under way at once: each may hold a batch's whole body


class Callbacks:
    def __init__(self, *, timeout_s: float, allow_private_networks: bool) -> None:
        self._sender = SignedSender(timeout_s=timeout_s, allow_private_networks=allow_private_networks,
                                    user_agent=USER_AGENT, clock=time.time)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def full(self) -> bool:
        return len(self._tasks) >= MAX_PENDING

    def later(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Runs `work` in the background (a queued batch, a callback); cancelled when the sidecar stops.
        Callers check `full` first: what is under way is bounded."""
        task = asyncio.create_task(self._run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("background work of a batch failed")

    async def deliver(self, url: str, body: bytes, *, secret: str, batch_id: str) -> str | None:
        """None once the receiver answered 2xx; else the last failure, in words safe to log."""
        error = None
        for attempt in range(CALLBACK_ATTEMPTS):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt - 1, len(RETRY_DELAYS_S) - 1)])
            error = await self._sender.send(url, body, secret=secret, event_id=batch_id)
            if error is None:
                return None
        log.warning("the callback of batch %s was not delivered: %s", batch_id, error)
        return error

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._sender.close()
