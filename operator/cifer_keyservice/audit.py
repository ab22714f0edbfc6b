"""The audit log: every lifecycle action and every decrypt, append-only, chained by HMAC.

Record n carries `hash_n = HMAC(audit key, hash_{n-1} || canonical fields of n)`, with
`seq` = 1, 2, 3... assigned under the append lock, and a one-row head holds the newest seq and
hash under the same key. So an edited, inserted, reordered or deleted row, and a cut tail,
all fail `cifer keyservice audit verify`, and only a holder of the audit key — which exists
at rest only wrapped by the HSM's KEK — could make them consistent again. What a chain cannot
show alone is a whole database restored from an older copy: the JSON lines this module writes
to stdout (to be shipped off the host) are the outside record for that.

Fail closed: a record is written in the same transaction as the operation it records, so an
operation whose record cannot be written does not happen.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
import logging
import sys
from typing import Any, TextIO

from sqlalchemy import event, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cifer.api.errors import ApiError, ErrorCode
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import AuditHead, AuditRecord

log = logging.getLogger("cifer.audit")
GENESIS = "0" * 64
_APPEND_LOCK_ID = 0x41554454  # "AUDT": serializes appends on PostgreSQL
_PENDING_LINES = "cifer.audit.lines"


@dataclasses.dataclass(frozen=True)
class Entry:
    """What happened, as the service knows it; the log adds time, order and the chain."""

    principal: str
    operation: str  # create | get | list | rotate | revoke | decrypt | rewrap | apikey.* ...
    outcome: str  # success | denied | failure
    request_id: str
    source: str
    cifer_id: str | None = None
    key_version: int | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def _fields(record: AuditRecord) -> bytes:
    at = record.at.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return json.dumps(
        [record.seq, at, record.principal, record.operation, record.cifer_id, record.key_version,
         record.outcome, record.request_id, record.source, record.details],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode()


def _mac(key: bytes, *parts: bytes) -> str:
    return hmac.new(key, b"\x00".join(parts), hashlib.sha256).hexdigest()


class AuditedSession(Session):
    """The service's session class: records reach stdout only if their transaction committed."""


@event.listens_for(AuditedSession, "after_commit")
def _write_committed_lines(session: Session) -> None:
    for stream, line in session.info.pop(_PENDING_LINES, []):
        stream.write(line + "\n")
        stream.flush()


@event.listens_for(AuditedSession, "after_rollback")
def _drop_rolled_back_lines(session: Session) -> None:
    session.info.pop(_PENDING_LINES, None)


class AuditLog:
    def __init__(self, key: bytes, *, stream: TextIO = sys.stdout) -> None:
        self._key = key
        self._stream = stream

    async def append(self, session: AsyncSession, entry: Entry) -> AuditRecord:
        """Adds the record inside the caller's transaction, after the previous one."""
        if session.bind.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPEND_LOCK_ID})
        head = await session.get(AuditHead, 1)
        prev_seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS)
        record = AuditRecord(
            seq=prev_seq + 1, at=utcnow(), principal=entry.principal, operation=entry.operation,
            cifer_id=entry.cifer_id, key_version=entry.key_version, outcome=entry.outcome,
            request_id=entry.request_id, source=entry.source, details=entry.details, prev_hash=prev_hash, hash="",
        )
        record.hash = _mac(self._key, prev_hash.encode(), _fields(record))
        head_mac = _mac(self._key, b"head", str(record.seq).encode(), record.hash.encode())
        if head is None:
            session.add(AuditHead(id=1, seq=record.seq, hash=record.hash, mac=head_mac))
        else:
            head.seq, head.hash, head.mac = record.seq, record.hash, head_mac
        session.add(record)
        try:
            await session.flush()
        except SQLAlchemyError:
            log.exception("audit record could not be written; refusing the %s", entry.operation)
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the audit log cannot be written") from None
        session.sync_session.info.setdefault(_PENDING_LINES, []).append((self._stream, json.dumps({
            "audit": True, "seq": record.seq, "at": record.at.isoformat(), "principal": record.principal,
            "operation": record.operation, "cifer_id": record.cifer_id, "key_version": record.key_version,
            "outcome": record.outcome, "request_id": record.request_id, "source": record.source,
            "details": record.details, "hash": record.hash,
        }, sort_keys=True, ensure_ascii=False)))
        return record

    async def verify(self, sessions: async_sessionmaker, *, batch: int = 1000) -> tuple[bool, int, str]:
        """(intact, records checked, what is wrong). Reads the log in `seq` order in batches."""
        prev_seq, prev_hash, checked = 0, GENESIS, 0
        async with sessions() as session:
            head = await session.get(AuditHead, 1)
            while True:
                rows = (await session.execute(
                    select(AuditRecord).where(AuditRecord.seq > prev_seq).order_by(AuditRecord.seq).limit(batch)
                )).scalars().all()
                for record in rows:
                    if record.seq != prev_seq + 1:
                        return False, checked, f"records {prev_seq + 1}..{record.seq - 1} are missing"
                    expected = _mac(self._key, prev_hash.encode(), _fields(record))
                    if record.prev_hash != prev_hash or not hmac.compare_digest(record.hash, expected):
                        return False, checked, f"record {record.seq} was altered"
                    prev_seq, prev_hash, checked = record.seq, record.hash, checked + 1
                if len(rows) < batch:
                    break
        if head is None:
            return (checked == 0), checked, ("" if checked == 0 else "the log head is missing")
        head_ok = hmac.compare_digest(head.mac, _mac(self._key, b"head", str(head.seq).encode(), head.hash.encode()))
        if not head_ok:
            return False, checked, "the log head was altered"
        if (head.seq, head.hash) != (prev_seq, prev_hash):
            return False, checked, f"the log ends at record {prev_seq} but its head names record {head.seq}"
        return True, checked, ""
