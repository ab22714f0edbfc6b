"""What the sidecar remembers between requests: public keys and vouched-for credentials.
Never a data key, never a private key.

Public keys are kept for a TTL (bounded in number) and dropped at once when the sidecar sees
the cifer move on: a decrypted header of a newer version, a 410 from the key service, or a
rotation or revocation passed through it. Concurrent misses for one cifer make one fetch. A key
with an `expires_at` is refused from that instant on, by this pod's clock, whatever the TTL.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache
from prometheus_client import Counter

from cifer.api.errors import ApiError, ErrorCode
from cifer.api.timestamps import iso, parse_iso
from cifer.crypto.suites import AES_256_GCM, suite_by_name
from cifer.envelope import Recipient


@dataclasses.dataclass(frozen=True)
class _Kept:
    recipient: Recipient
    expires_at: datetime.datetime | None


class PublicKeys:
    def __init__(self, fetch: Callable[[str], Awaitable[dict[str, Any]]], *, ttl_s: float, size: int,
                 lookups: Counter, now: Callable[[], datetime.datetime] | None = None) -> None:
        self._fetch = fetch
        self._cache: TTLCache = TTLCache(size, ttl_s)
        self._inflight: dict[str, asyncio.Future] = {}
        self._lookups = lookups
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))  # a test may replace it

    async def recipient(self, cifer_id: str) -> Recipient:
        """The cifer's current public key; ApiError 403 once it has expired (it still decrypts)."""
        found = self._cache.get(cifer_id)
        if found is not None:
            self._lookups.labels("hit").inc()
        else:
            self._lookups.labels("miss").inc()
            pending = self._inflight.get(cifer_id)
            if pending is None:
                pending = self._inflight[cifer_id] = asyncio.ensure_future(self._load(cifer_id))
                pending.add_done_callback(lambda _: self._inflight.pop(cifer_id, None))
            found = await asyncio.shield(pending)
        if found.expires_at is not None and found.expires_at <= self.now():
            self.forget(cifer_id)  # the key service refuses it too from now on
            raise ApiError(ErrorCode.FORBIDDEN, "this CIFER has expired: it still decrypts but no longer encrypts",
                           {"cifer_id": cifer_id, "expired_at": iso(found.expires_at)})
        return found.recipient

    async def _load(self, cifer_id: str) -> _Kept:
        try:
            data = await self._fetch(cifer_id)
        except ApiError as err:
            if err.code in (ErrorCode.CIFER_REVOKED, ErrorCode.NOT_FOUND):
                self.forget(cifer_id)
            raise
        try:
            suite = suite_by_name(data["algorithm"], data.get("aead", AES_256_GCM))
            recipient = Recipient(data["cifer_id"], int(data["key_version"]), suite,
                                  suite.public_key_from_der(base64.b64decode(data["encapsulation_key"], validate=True)))
            expires_at = parse_iso(data["expires_at"]) if data.get("expires_at") is not None else None
        except (KeyError, TypeError, ValueError):
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service sent an unusable public key") from None
        if recipient.cifer_id != cifer_id:
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service sent another cifer's key")
        kept = self._cache[cifer_id] = _Kept(recipient, expires_at)
        return kept

    def saw_version(self, cifer_id: str, key_version: int) -> None:
        """A header of `key_version` was opened: a newer version than ours means a rotation."""
        found = self._cache.get(cifer_id)
        if found is not None and found.recipient.key_version < key_version:
            self.forget(cifer_id)

    def forget(self, cifer_id: str) -> None:
        self._cache.pop(cifer_id, None)


class KeyViews:
    """Seed 001's key lookups (`GET /api/security/keys`), kept for the public keys' TTL: which key
    a user's data type goes to. A key past its `expiresAt` (by this pod's clock) or refused since
    is looked up again, so a new key is found within the TTL and an expired one never used."""

    def __init__(self, *, ttl_s: float, size: int, now: Callable[[], datetime.datetime] | None = None) -> None:
        self._cache: TTLCache = TTLCache(size, ttl_s) if ttl_s > 0 else None
        self.now = now or (lambda: datetime.datetime.now(datetime.UTC))  # a test may replace it

    async def find(self, query: tuple[str, ...], fetch: Callable[[], Awaitable[list[dict[str, Any]]]]
                   ) -> list[dict[str, Any]]:
        held = self._cache.get(query) if self._cache is not None else None
        if held is None or (held[1] is not None and held[1] <= self.now()):
            found = await fetch()
            held = (found, _first_expiry(found))
            if self._cache is not None:
                self._cache[query] = held
        return held[0]

    def forget(self, key_id: str) -> None:
        """Drops every lookup that found `key_id` (it was refused: revoked or expired)."""
        if self._cache is not None:
            for query in [q for q, (keys, _) in self._cache.items() if any(k.get("keyId") == key_id for k in keys)]:
                self._cache.pop(query, None)


def _first_expiry(keys: list[dict[str, Any]]) -> datetime.datetime | None:
    """When the first of the active keys found expires (parsed once, not at every encryption)."""
    moments = []
    for key in keys:
        if key.get("status") == "active" and key.get("expiresAt") is not None:
            try:
                moments.append(parse_iso(key["expiresAt"]))
            except (TypeError, ValueError):
                return datetime.datetime.min.replace(tzinfo=datetime.UTC)  # unreadable: ask again next time
    return min(moments, default=None)


class VouchedCredentials:
    """Credentials the key service vouched for (`/v1/whoami`), by SHA-256, with their scopes;
    refusals are not remembered, so a credential made a moment ago works at once.

    One is kept for `ttl_s`, or less when the key service says its answer holds less long (its
    max-age: what is left of its own memory of an API key), so that the two memories never add
    up: a revoked key stops encrypting here within the key service's `api_key_cache_s`."""

    def __init__(self, whoami: Callable[[str], Awaitable[tuple[dict[str, Any], float | None]]], *, ttl_s: float,
                 size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._whoami = whoami
        self._ttl_s = ttl_s
        self.clock = clock  # read at every use: a test may replace it
        self._cache: TTLCache | None = TTLCache(size, ttl_s, timer=lambda: self.clock()) if ttl_s > 0 else None

    async def require(self, authorization: str, scope: str) -> None:
        """ApiError 401 for a credential the key service refuses, 403 without `scope`.
        `authorization` is visible ASCII (`cifer.api.credentials`)."""
        key = hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()
        found = self._cache.get(key) if self._cache is not None else None
        if found is not None and found[1] > self.clock():
            scopes = found[0]
        else:
            asked_at = self.clock()  # before asking: the answer's age is never understated
            data, max_age_s = await self._whoami(authorization)
            scopes = frozenset(data["scopes"])
            keep_s = self._ttl_s if max_age_s is None else min(self._ttl_s, max_age_s)
            if self._cache is not None and keep_s > 0:
                self._cache[key] = (scopes, asked_at + keep_s)
        if scope not in scopes and "admin" not in scopes:
            raise ApiError(ErrorCode.FORBIDDEN, details={"required_scope": scope})
