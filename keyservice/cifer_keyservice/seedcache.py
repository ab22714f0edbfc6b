"""Unwrapped private seeds kept in the key service's memory for a bounded time and count, so
that the HSM is not asked once per request.

An entry is a key version's opener (its seed, unwrapped once by the KEK, and the decapsulator
made from it), keyed by (cifer id, version) and tied to the wrapped seed it came from: a row
whose wrapped seed differs (rewrapped under a new KEK) misses. It lives `ttl_s` from its
unwrap, whatever its use; the least recently used goes first beyond `size`. Rotation and
revocation drop a cifer's entries at once in this replica (`CiferService`); other replicas'
entries age out within `ttl_s`. A cached seed never decides who may decrypt: every request
still reads the cifer's status, policy and version state from the database first.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from cifer.envelope.format import Header
from cifer.keystore.store import StoredKey

Opener = Callable[[Header], bytes]


class SeedCache:
    def __init__(self, *, ttl_s: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._entries: collections.OrderedDict[tuple[str, int], tuple[bytes, float, Opener]] = (
            collections.OrderedDict())
        self._lock = threading.Lock()  # openers are made in executor threads
        self._drops = 0  # an unwrap that a drop overtook is used once, not kept

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0 and self._size > 0

    def opener(self, cifer_id: str, version: int, stored: StoredKey, unwrap: Callable[[StoredKey], Opener]) -> Opener:
        """The version's opener from the cache, or `unwrap(stored)` (the KEK), kept for next time."""
        if not self.enabled:
            return unwrap(stored)
        key = (cifer_id, version)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stored.wrapped_seed and entry[1] > now:
                self._entries.move_to_end(key)
                return entry[2]
            drops = self._drops
        opener = unwrap(stored)  # outside the lock: an HSM call may take a while
        with self._lock:
            if drops != self._drops:
                return opener
            self._entries[key] = (stored.wrapped_seed, now + self._ttl_s, opener)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return opener

    def resize(self, *, ttl_s: float, size: int) -> None:
        """New bounds, at once (the configuration's cacheTTL and cacheSize): entries past the new
        size go, least recently used first; those kept keep their expiry."""
        with self._lock:
            self._ttl_s, self._size = ttl_s, size
            while len(self._entries) > max(size, 0):
                self._entries.popitem(last=False)

    def holds(self, cifer_id: str, version: int, stored: StoredKey) -> bool:
        """Whether `opener` would answer from memory (no KEK call) just now."""
        entry = self._entries.get((cifer_id, version))
        return entry is not None and entry[0] == stored.wrapped_seed and entry[1] > self._clock()

    def drop(self, cifer_id: str) -> None:
        """Forgets every version of `cifer_id` (rotated or revoked)."""
        with self._lock:
            self._drops += 1
            for key in [key for key in self._entries if key[0] == cifer_id]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
