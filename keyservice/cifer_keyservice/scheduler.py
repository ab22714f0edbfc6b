"""Automatic rotation (`policy.auto_rotate_days`), safe with several replicas.

Each pass: announce `cifer.expiring` once per version ahead of its rotation; rotate the
keys that are due (the due check is repeated under the row lock, so exactly one replica
rotates a key); retire decrypt-only versions whose re-encryption deadline has passed. On
PostgreSQL the candidates are claimed with FOR UPDATE SKIP LOCKED, so replicas share the
work instead of queueing on it; SQLite serializes writers anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice import events, periodic
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.cifers import Caller, CiferService
from cifer.api.timestamps import iso
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, CiferVersion
from cifer_keyservice.records import RotateCifer

log = logging.getLogger("cifer.scheduler")
SCHEDULER = Principal(id="system:cifer-scheduler", scopes=frozenset({"admin"}), kind="system")
BATCH = 100


@dataclasses.dataclass(frozen=True)
class RotationPass:
    """What one pass did: keys announced as expiring, keys rotated, versions retired."""

    expiring: int
    rotated: int
    retired: int


class RotationScheduler:
    def __init__(self, sessions: async_sessionmaker, cifers: CiferService, audit: AuditLog, *,
                 expiring_notice_days: int) -> None:
        self._sessions = sessions
        self._cifers = cifers
        self._audit = audit
        self._notice = datetime.timedelta(days=expiring_notice_days)

    def _caller(self) -> Caller:
        return Caller(principal=SCHEDULER, request_id="sched_" + secrets.token_hex(8), source="scheduler")

    def _claim(self, query, session):
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return query.limit(BATCH)

    async def run_once(self) -> RotationPass:
        """One pass: announce, then rotate, then retire."""
        return RotationPass(expiring=await self._announce(), rotated=await self._rotate_due(), retired=await self._retire())

    async def _announce(self) -> int:
        now = utcnow()
        async with self._sessions.begin() as session:
            query = select(Cifer).where(
                Cifer.status == "active", Cifer.next_rotation_at.is_not(None),
                Cifer.next_rotation_at <= now + self._notice,
                (Cifer.expiring_notified_for.is_(None)) | (Cifer.expiring_notified_for != Cifer.current_version),
            )
            due = (await session.execute(self._claim(query, session))).scalars().all()
            for cifer in due:
                cifer.expiring_notified_for = cifer.current_version
                await events.emit(session, "cifer.expiring", owner_id=cifer.owner_id, data={
                    "cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id,
                    "key_version": cifer.current_version, "rotates_at": iso(cifer.next_rotation_at),
                })
        return len(due)

    async def _rotate_due(self) -> int:
        async with self._sessions.begin() as session:
            ids = (await session.execute(select(Cifer.id).where(
                Cifer.status == "active", Cifer.next_rotation_at.is_not(None), Cifer.next_rotation_at <= utcnow(),
            ).limit(BATCH))).scalars().all()
        rotated = 0
        for cifer_id in ids:
            # No window: the cifer's policy.re_encryption_window_days, else the service's default.
            request = RotateCifer(reason="scheduled_rotation", re_encryption_window_days=None)
            if await self._cifers.rotate(self._caller(), cifer_id, request, scheduled=True) is not None:
                rotated += 1
        return rotated

    async def _retire(self) -> int:
        now = utcnow()
        async with self._sessions.begin() as session:
            query = select(CiferVersion).where(CiferVersion.state == "decrypt_only", CiferVersion.decrypt_until <= now)
            versions = (await session.execute(self._claim(query, session))).scalars().all()
            for version in versions:
                version.state, version.retired_at = "retired", now
                await self._audit.append(session, self._caller().entry(
                    "retire", "success", cifer_id=version.cifer_id, key_version=version.version))
        return len(versions)

    async def run(self, stop: asyncio.Event, *, interval_s: float) -> None:
        await periodic.every(interval_s, stop, self.run_once, log=log, what="rotation pass")
