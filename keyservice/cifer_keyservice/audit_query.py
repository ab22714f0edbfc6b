"""Reading the audit log (`GET /v1/audit`, seed 001): records by time range, cifer, operation,
principal and outcome, newest first, a page at a time, with counts by operation and outcome.
An admin reads every record; anyone else only the records of the cifers they own (whoever the
record's principal is: a refused decrypt of your cifer by another is yours to see), and no
record without a cifer. The writer is `audit.AuditLog`; this only reads, on the read-only sessions."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.db.models import AuditRecord, Cifer

OUTCOMES = ("success", "denied", "failure")


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    """Every field that is not None narrows the query; `start` is inclusive, `end` exclusive."""

    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    cifer_id: str | None = None
    operation: str | None = None
    principal: str | None = None
    outcome: str | None = None  # one of OUTCOMES
    owner: str | None = None  # only the records of this principal's cifers; None: all (an admin's view)


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime.datetime
    operation: str
    principal: str
    cifer_id: str | None
    key_version: int | None
    outcome: str
    request_id: str
    source: str
    details: dict[str, Any]
    hash: str


@dataclasses.dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int  # records that match, on every page
    by_operation: dict[str, int]
    by_outcome: dict[str, int]  # every outcome, 0 where none matched


class AuditQuery:
    def __init__(self, readers: async_sessionmaker) -> None:
        self._readers = readers

    async def page(self, where: AuditFilter, *, page: int, limit: int) -> AuditPage:
        """Page `page` (from 1) of `limit` records."""
        conditions = []
        if where.start is not None:
            conditions.append(AuditRecord.at >= where.start)
        if where.end is not None:
            conditions.append(AuditRecord.at < where.end)
        for value, column in ((where.cifer_id, AuditRecord.cifer_id), (where.operation, AuditRecord.operation),
                              (where.principal, AuditRecord.principal), (where.outcome, AuditRecord.outcome)):
            if value is not None:
                conditions.append(column == value)
        if where.owner is not None:
            conditions.append(AuditRecord.cifer_id.in_(select(Cifer.id).where(Cifer.owner_id == where.owner)))
        async with self._readers() as session:
            total = (await session.execute(select(func.count()).select_from(AuditRecord).where(*conditions))).scalar_one()
            by_operation = dict((await session.execute(
                select(AuditRecord.operation, func.count()).where(*conditions).group_by(AuditRecord.operation)
            )).all())
            by_outcome = dict((await session.execute(
                select(AuditRecord.outcome, func.count()).where(*conditions).group_by(AuditRecord.outcome)
            )).all())
            rows = (await session.execute(
                select(AuditRecord).where(*conditions).order_by(AuditRecord.seq.desc())
                .offset((page - 1) * limit).limit(limit)
            )).scalars().all()
        return AuditPage(
            entries=[AuditEntry(seq=r.seq, at=r.at, operation=r.operation, principal=r.principal, cifer_id=r.cifer_id,
                                key_version=r.key_version, outcome=r.outcome, request_id=r.request_id,
                                source=r.source, details=r.details, hash=r.hash) for r in rows],
            total=total, by_operation=by_operation,
            by_outcome={outcome: by_outcome.get(outcome, 0) for outcome in OUTCOMES},
        )

    async def envelopes_seen(self, cifer_id: str, key_version: int | None = None) -> tuple[int, list[str]]:
        """How many distinct envelopes of a cifer (at `key_version`, or any) the service has opened —
        the message ids its successful decrypt records name; envelopes never decrypted are not known
        here — and the seed-001 data types among them."""
        conditions = [AuditRecord.cifer_id == cifer_id, AuditRecord.operation == "decrypt",
                      AuditRecord.outcome == "success"]
        if key_version is not None:
            conditions.append(AuditRecord.key_version == key_version)
        message_id = AuditRecord.details["message_id"].as_string()
        data_type = AuditRecord.details["data_type"].as_string()
        async with self._readers() as session:
            count = (await session.execute(select(func.count(func.distinct(message_id))).where(*conditions))).scalar_one()
            types = (await session.execute(select(data_type).where(*conditions, data_type.is_not(None))
                                           .distinct().order_by(data_type))).scalars().all()
        return count, list(types)
