"""Sliding-window rate limits of seed 004, counted in memory."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Hashable

from cifer_inference.errors import Problem
from cifer_inference.settings import SlidingWindow

MAX_KEYS = 100_000  # client addresses remembered per category before idle ones are dropped


class Window:
    """The times of the last `limit.limit` allowed requests of one key."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: collections.deque[float] = collections.deque()

    def hit(self, limit: SlidingWindow, now: float, what: str) -> None:
        """Count one request, or raise 429 with the seconds until one is allowed again."""
        while self.times and self.times[0] <= now - limit.window_s:
            self.times.popleft()
        if len(self.times) >= limit.limit:
            retry = self.times[0] + limit.window_s - now
            raise Problem(429, f"Rate limit exceeded: at most {limit.limit} {what} per {limit.window_s:g} s",
                          {"Retry-After": str(max(1, math.ceil(retry)))})
        self.times.append(now)


class Limiter:
    """One limit, per key (a client address)."""

    def __init__(self, limit: SlidingWindow, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.what, self.clock = limit, what, clock
        self._windows: dict[Hashable, Window] = {}

    def hit(self, key: Hashable) -> None:
        now = self.clock()
        if len(self._windows) >= MAX_KEYS:
            self._forget_idle(now)
        self._windows.setdefault(key, Window()).hit(self.limit, now, self.what)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if not w.times or w.times[-1] <= now - self.limit.window_s]:
            del self._windows[key]
        while len(self._windows) >= MAX_KEYS:  # all busy: the oldest key starts afresh, memory stays bounded
            del self._windows[next(iter(self._windows))]
