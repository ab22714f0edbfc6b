"""Audit retention (seed 001's `complianceSettings.retainAuditLogs`; docs/audit.md, "Retention"):
records older than the configured number of days are deleted, and the chain stays verifiable.

A prune, in one transaction: the newest record older than the cutoff is found (seq k); records 1..k
are deleted; the prune anchor (`audit_head` row 2) is set to (k, hash_k), MAC'd under the audit key.
`AuditLog.verify` then starts from the anchor instead of the genesis: record k+1 must chain on
hash_k, so nothing after the anchor can be removed or changed unnoticed, and an anchor cannot be
moved or made without the audit key. Before it prunes, a checkpoint of the head is written where
checkpoints go (the file and the stream, `audit_checkpoints`), so the outside record covers the
log as it was. Records are deleted by seq, never by time alone, so the log that remains is
contiguous."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.audit import ANCHOR_ID, anchor_mac
from cifer_keyservice import periodic
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import AuditHead, AuditRecord

log = logging.getLogger("cifer.audit")


class AuditRetention:
    def __init__(self, sessions: async_sessionmaker, key: bytes, *, checkpoint: Callable[[], Awaitable[object]],
                 retention_days: Callable[[], Awaitable[int | None]]) -> None:
        """`checkpoint()` writes a checkpoint of the head; `retention_days()` reads the configured retention."""
        self._sessions = sessions
        self._key = key
        self._checkpoint = checkpoint
        self._retention_days = retention_days
        self._lock = asyncio.Lock()

    async def prune(self, now: datetime.datetime | None = None) -> int:
        """Deletes the records past retention; answers how many."""
        days = await self._retention_days()
        if days is None:
            return 0
        cutoff = (now or utcnow()) - datetime.timedelta(days=days)
        async with self._lock:
            async with self._sessions() as session:
                last = (await session.execute(select(func.max(AuditRecord.seq)).where(AuditRecord.at < cutoff))).scalar()
            if last is None:
                return 0
            await self._checkpoint()
            async with self._sessions.begin() as session:
                hash_ = (await session.execute(select(AuditRecord.hash).where(AuditRecord.seq == last))).scalar_one()
                pruned = (await session.execute(delete(AuditRecord).where(AuditRecord.seq <= last))).rowcount
                anchor = await session.get(AuditHead, ANCHOR_ID)
                if anchor is None:
                    session.add(AuditHead(id=ANCHOR_ID, seq=last, hash=hash_, mac=anchor_mac(self._key, last, hash_)))
                else:
                    anchor.seq, anchor.hash, anchor.mac = last, hash_, anchor_mac(self._key, last, hash_)
        log.info("audit retention: %d records up to %d pruned (older than %d days)", pruned, last, days)
        return pruned

    async def run(self, stop: asyncio.Event, *, interval_s: float) -> None:
        await periodic.every(interval_s, stop, self.prune, log=log, what="audit retention")
