"""Seed §8.1's encrypt limit, held in the sidecar (`encrypt_limit_per_minute`; off by default):
per credential, in fixed minutes (`[start, start + 60)`, start a multiple of 60 since the epoch,
as the key service's windows are), with §8.2's headers on every encrypt answer and §8.3's 429
past the limit. Local encryption costs the key service nothing, so only a pod that wants a noisy
caller held back turns it on. Counters are in memory, by SHA-256 of the credential, bounded.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from cachetools import TTLCache

from cifer.api.errors import ApiError, ErrorCode

WINDOW_S = 60
MAX_CREDENTIALS = 10_000  # counters kept; a window outlives none of them


class EncryptLimit:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.time) -> None:
        if per_minute < 1:
            raise ValueError("the encrypt limit is at least one a minute")
        self._limit, self._clock = per_minute, clock
        self._counts: TTLCache = TTLCache(MAX_CREDENTIALS, WINDOW_S * 2, timer=clock)

    def take(self, credential: str) -> dict[str, str]:
        """Counts one encryption of `credential`: the X-RateLimit-* headers for its answer, or
        ApiError 429 (not counted) when its minute is used up."""
        now = self._clock()
        start = int(now) - int(now) % WINDOW_S
        key = (hashlib.sha256(credential.encode("utf-8", "surrogateescape")).digest(), start)
        count = self._counts.get(key, 0)
        reset = start + WINDOW_S
        headers = {"X-RateLimit-Limit": str(self._limit), "X-RateLimit-Reset": str(reset)}
        if count >= self._limit:
            retry_after = max(1, reset - int(now))
            raise ApiError(ErrorCode.RATE_LIMIT_EXCEEDED,
                           f"Rate limit exceeded. Please retry after {retry_after} seconds.",
                           details={"limit": self._limit, "window": "1 minute", "retry_after": retry_after},
                           headers={**headers, "X-RateLimit-Remaining": "0", "Retry-After": str(retry_after)})
        self._counts[key] = count + 1
        return {**headers, "X-RateLimit-Remaining": str(self._limit - count - 1)}
