"""API keys in the database: created and revoked by the admin command, found by hash.

A verified key's principal is remembered for a few seconds (by the key's hash, never the key),
so a busy caller does not cost a database read per request; revocation, done by another
process, reaches every replica when that memory expires. Unknown and revoked keys are never
remembered: they are looked up every time. A principal says how much of that time is left
(`Principal.reuse_s`), so that a sidecar that remembers it too (`/v1/whoami`) keeps it no longer:
`api_key_cache_s` bounds a revoked key end to end, not per hop."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Iterable

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer import apikeys
from cifer.api.timestamps import iso
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import ApiKey
from cifer_keyservice.settings import SCOPES

HINT_CHARS = 12  # "sk_live_ab12": the prefix and 4 random characters, to recognise a key in lists
CACHED_KEYS = 10_000


def _record(key: str, owner_id: str, scopes: Iterable[str]) -> ApiKey:
    """The stored form of `key`: its SHA-256 and a short hint, never the key itself."""
    return ApiKey(id="ak_" + secrets.token_hex(8), key_hash=apikeys.hash_api_key(key), hint=key[:HINT_CHARS],
                  owner_id=owner_id, scopes=sorted(set(scopes)), created_at=utcnow())


class ApiKeyStore:
    def __init__(self, sessions: async_sessionmaker, *, readers: async_sessionmaker | None = None,
                 cache_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._readers = readers or sessions  # lookups write nothing: no write lock on SQLite
        self.cache_s = cache_s
        self.clock = clock  # read at every use: a test may replace it
        self._verified: TTLCache | None = (TTLCache(CACHED_KEYS, cache_s, timer=lambda: self.clock())
                                           if cache_s > 0 else None)

    async def create(self, *, owner_id: str, scopes: Iterable[str], live: bool) -> tuple[str, ApiKey]:
        """Returns the key (to show once) and its record (which never holds it)."""
        scopes = sorted(set(scopes))
        unknown = set(scopes) - SCOPES
        if unknown or not scopes:
            raise ValueError(f"scopes must be drawn from {', '.join(sorted(SCOPES))}")
        if not owner_id or len(owner_id) > 255:
            raise ValueError("owner must be 1..255 characters")
        key = apikeys.generate_api_key(live=live)
        record = _record(key, owner_id, scopes)
        async with self._sessions.begin() as session:
            session.add(record)
        return key, record

    async def ensure(self, key: str, *, owner_id: str, scopes: Iterable[str]) -> None:
        """Makes a key given from outside valid (`cifer dev --api-key`): added if unknown; if known as
        `owner_id`'s and not revoked, given `scopes` (a data directory of an older `cifer dev`)."""
        if not apikeys.is_well_formed(key):
            raise ValueError("not an API key")
        record = _record(key, owner_id, scopes)
        async with self._sessions.begin() as session:
            known = (await session.execute(select(ApiKey).where(ApiKey.key_hash == record.key_hash))).scalar()
            if known is None:
                session.add(record)
            elif known.owner_id == owner_id and known.revoked_at is None:
                known.scopes = record.scopes

    async def list(self) -> list[dict]:
        async with self._sessions.begin() as session:
            rows = (await session.execute(select(ApiKey).order_by(ApiKey.created_at))).scalars().all()
        return [{"id": r.id, "hint": r.hint + "…", "owner_id": r.owner_id, "scopes": r.scopes,
                 "created_at": iso(r.created_at), "revoked_at": iso(r.revoked_at)} for r in rows]

    async def revoke(self, key_id: str) -> bool:
        async with self._sessions.begin() as session:
            record = await session.get(ApiKey, key_id)
            if record is None or record.revoked_at is not None:
                return False
            record.revoked_at = utcnow()
            return True

    async def principal(self, key: str) -> Principal | None:
        """The key's principal, if it is well formed, known and not revoked. The lookup is by
        SHA-256, so timing reveals nothing about stored keys."""
        if not apikeys.is_well_formed(key):
            return None
        key_hash = apikeys.hash_api_key(key)
        if self._verified is not None and (known := self._verified.get(key_hash)) is not None:
            principal, verified_at = known
            return dataclasses.replace(principal, reuse_s=max(0.0, verified_at + self.cache_s - self.clock()))
        verified_at = self.clock()  # before the read: the time left is never overstated
        async with self._readers.begin() as session:
            record = (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar_one_or_none()
        if record is None or record.revoked_at is not None:
            return None
        principal = Principal(id=record.owner_id, scopes=frozenset(record.scopes), kind="api_key", reuse_s=self.cache_s)
        if self._verified is not None:
            self._verified[key_hash] = (principal, verified_at)
        return principal
