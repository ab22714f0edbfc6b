"""A circuit breaker (seed §6.6), with the states and option names of the TypeScript SDK's
(sdk/typescript/src/breaker.ts): after `failure_threshold` calls in a row fail the way an outage
does (no answer, 500, 502-504), calls fail at once with `CircuitOpenError` for `reset_timeout_s`;
then one probe call is let through (half-open), and its outcome closes the circuit or opens it
again. Refusals (4xx, 429 included) are answers from a live server and reset the count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from cifer.sdk.errors import CiferConnectionError, CiferError, CircuitOpenError

CircuitState = Literal["closed", "open", "half-open"]


def is_outage(error: CiferError) -> bool:
    """What the breaker counts: no answer, or a 5xx."""
    return isinstance(error, CiferConnectionError) or (error.status is not None and error.status >= 500)


class CircuitBreaker:
    """One client's breaker. Thread-safe: the blocking client's calls may come from many threads."""

    def __init__(self, failure_threshold: int = 5, reset_timeout_s: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError("failure_threshold must be an integer >= 1")
        if not reset_timeout_s >= 0:
            raise ValueError("reset_timeout_s must not be negative")
        self.failure_threshold = failure_threshold
        """Consecutive failed calls that open the circuit."""
        self.reset_timeout_s = reset_timeout_s
        """Seconds the circuit stays open before one probe call is let through."""
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.reset_timeout_s else "open"

    def before(self) -> None:
        """Before sending: raises CircuitOpenError while open; lets one probe through when half-open."""
        with self._lock:
            state = self.state
            if state == "closed":
                return
            if state == "half-open" and not self._probing:
                self._probing = True
                return
            wait_s = max(0.0, self.reset_timeout_s - (self._clock() - (self._opened_at or 0.0)))
        raise CircuitOpenError("the CIFER API failed repeatedly; calls are paused (circuit breaker open)",
                               retry_after=wait_s)

    def release(self) -> None:
        """An attempt that ended before its outcome was known (its body source or credential
        function raised): the half-open probe is free again."""
        with self._lock:
            self._probing = False

    def record(self, error: CiferError | None) -> None:
        """The outcome of a call that was sent: None for an answer that is not an outage."""
        with self._lock:
            if error is None or not is_outage(error):
                self._failures, self._opened_at, self._probing = 0, None, False
                return
            self._failures += 1
            if self._probing or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._probing = False
