"""When a failed call is tried again, and after how long.

Only what may heal is retried: 429 (rate limited), 503 (service unavailable) and no answer at
all. Every POST and PATCH the SDK sends carries an `X-Idempotency-Key`, so a repeat is answered
from the first attempt's record instead of being done twice. The wait is exponential with jitter (so
many clients do not come back in step) and never shorter than the server's Retry-After; a
server asking for more than `max_retry_after_s` gets the error handed to the caller instead of
a silent long sleep.
"""

from __future__ import annotations

import dataclasses
import random

from cifer.sdk.errors import CiferConnectionError, CiferError, RateLimitError, ServiceUnavailableError

RETRYABLE: tuple[type[CiferError], ...] = (RateLimitError, ServiceUnavailableError, CiferConnectionError)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    """Tries after the first; 0 turns retries off."""
    initial_backoff_s: float = 0.5
    """Base wait before the first retry; it doubles with each further one."""
    max_backoff_s: float = 30.0
    """Cap on the exponential wait (the seed's TypeScript example uses 30 s)."""
    max_retry_after_s: float = 60.0
    """A longer Retry-After is not slept through: the error goes to the caller, who decides."""
    rng: random.Random = dataclasses.field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("retry settings must not be negative")

    def backoff_s(self, attempt: int) -> float:
        """Equal jitter: half the exponential step, plus a random part of the other half."""
        step = min(self.max_backoff_s, self.initial_backoff_s * (2 ** attempt))
        return step / 2 + self.rng.uniform(0, step / 2)

    def delay_s(self, attempt: int, error: CiferError) -> float | None:
        """Seconds to wait before retry number `attempt + 1` after `error`; None: give up."""
        if attempt >= self.max_retries or not isinstance(error, RETRYABLE):
            return None
        backoff = self.backoff_s(attempt)
        if error.retry_after is None:
            return backoff
        if error.retry_after > self.max_retry_after_s:
            return None
        return max(error.retry_after, backoff)
