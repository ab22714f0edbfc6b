"""The service's periodic jobs (rotation, alert scans, audit retention): one pass every interval,
the first one interval after start (replicas restarted together do not all run at once), until
the service stops. A failed pass is logged and the next one tries again: a job must outlive a
database outage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(interval_s: float, stop: asyncio.Event, one_pass: Callable[[], Awaitable[object]], *,
                log: logging.Logger, what: str) -> None:
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
            return
        except TimeoutError:
            pass
        try:
            await one_pass()
        except Exception:
            log.exception("%s failed; retrying in %.0f s", what, interval_s)
