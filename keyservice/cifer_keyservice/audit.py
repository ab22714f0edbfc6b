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

from prometheus_client import Counter
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cifer_keyservice.clock import utcnow
from cifer_keyservice.errors import AuditUnavailable
from cifer_keyservice.db.models import AuditHead, AuditRecord

log = logging.getLogger("cifer.audit")
GENESIS = "0" * 64
_APPEND_LOCK_ID = 0x41554454  # "AUDT": serializes appends on PostgreSQL
_PENDING_LINES = "cifer.audit.lines"

# Built once: the append path runs on every decrypt, and SQLAlchemy memoizes a built statement's cache key.
_HEAD_TABLE, _RECORDS_TABLE = AuditHead.__table__, AuditRecord.__table__
_READ_HEAD = select(_HEAD_TABLE.c.seq, _HEAD_TABLE.c.hash).where(_HEAD_TABLE.c.id == 1)
_FIRST_HEAD = insert(_HEAD_TABLE).values(id=1)  # seq, hash and mac given as parameters
_MOVE_HEAD = update(_HEAD_TABLE).where(_HEAD_TABLE.c.id == 1)
_ADD_RECORDS = insert(_RECORDS_TABLE)  # Core: no ORM work per row
_LOCK_APPENDS = text("SELECT pg_advisory_xact_lock(:id)").bindparams(id=_APPEND_LOCK_ID)


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


_FIELDS = ("seq", "at", "principal", "operation", "cifer_id", "key_version", "outcome", "request_id", "source",
           "details")


def _fields(record: dict[str, Any] | AuditRecord) -> bytes:
    """The canonical bytes a record's MAC covers: its fields in a fixed order, as JSON."""
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    values = [get(name) for name in _FIELDS]
    values[1] = values[1].astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(key: bytes, *parts: bytes) -> str:
    return hmac.new(key, b"\x00".join(parts), hashlib.sha256).hexdigest()


class AuditedSession(Session):
    """The service's session class: records reach stdout only if their transaction committed."""


@event.listens_for(AuditedSession, "after_commit")
def _write_committed_lines(session: Session) -> None:
    by_stream: dict[TextIO, list[str]] = {}
    for stream, line in session.info.pop(_PENDING_LINES, []):
        by_stream.setdefault(stream, []).append(line + "\n")
    for stream, lines in by_stream.items():
        stream.write("".join(lines))
        stream.flush()


@event.listens_for(AuditedSession, "after_rollback")
def _drop_rolled_back_lines(session: Session) -> None:
    session.info.pop(_PENDING_LINES, None)


class AuditLog:
    def __init__(self, key: bytes, *, stream: TextIO = sys.stdout, failures: Counter | None = None) -> None:
        self._key = key
        self._stream = stream
        self._failures = failures

    async def append(self, session: AsyncSession, entry: Entry) -> None:
        """Adds the record inside the caller's transaction, after the previous one."""
        await self.append_many(session, [entry])

    async def append_many(self, session: AsyncSession, entries: list[Entry]) -> None:
        """Adds the records, in order: one lock, one head update, one multi-row insert."""
        await session.run_sync(self.append_rows, entries)

    def append_rows(self, session: Session, entries: list[Entry]) -> None:
        """`append_many` on a synchronous session (the group commit's writer thread)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_LOCK_APPENDS)
        head = session.execute(_READ_HEAD).first()
        seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS)
        now = utcnow()
        rows = []
        for entry in entries:
            seq += 1
            row = {"seq": seq, "at": now, "principal": entry.principal, "operation": entry.operation,
                   "cifer_id": entry.cifer_id, "key_version": entry.key_version, "outcome": entry.outcome,
                   "request_id": entry.request_id, "source": entry.source, "details": entry.details,
                   "prev_hash": prev_hash}
            row["hash"] = prev_hash = _mac(self._key, prev_hash.encode(), _fields(row))
            rows.append(row)
        new_head = {"seq": seq, "hash": prev_hash, "mac": _mac(self._key, b"head", str(seq).encode(), prev_hash.encode())}
        try:
            session.execute(_ADD_RECORDS, rows)
            session.execute(_FIRST_HEAD if head is None else _MOVE_HEAD, new_head)
        except SQLAlchemyError:
            if self._failures is not None:
                self._failures.inc()
            log.exception("audit records could not be written; refusing the %s", entries[0].operation)
            raise AuditUnavailable("the audit log cannot be written") from None
        pending = session.info.setdefault(_PENDING_LINES, [])
        for row in rows:
            line = {**row, "audit": True, "at": row["at"].isoformat()}
            del line["prev_hash"]
            pending.append((self._stream, json.dumps(line, sort_keys=True, ensure_ascii=False)))

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
