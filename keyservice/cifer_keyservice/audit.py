"""The audit log: every lifecycle action and every decrypt, append-only, chained by HMAC.

Record n carries `hash_n = HMAC(audit key, hash_{n-1} || canonical fields of n)`, with
`seq` = 1, 2, 3... assigned under the append lock, and a one-row head holds the newest seq and
hash under the same key. The head exists from the moment the audit key does: the key and a
MAC'd genesis head (seq 0) are written in one transaction (`servicekeys.load`), so a missing
head means the log was wiped, and appends refuse to start a new chain over it. So an edited,
inserted, reordered or deleted row, a cut tail and a wiped log all fail `cifer keyservice audit
verify`, and only a holder of the audit key — which exists at rest only wrapped by the HSM's
KEK — could make them consistent again. What the database cannot show alone is itself rolled
back as a whole (a tail cut back to an earlier head and that head put back, or an older copy
restored): checkpoints kept outside it (`audit_checkpoints`) are the outside record for that,
and docs/audit.md says what is detected and what is not.

Fail closed: a record is written in the same transaction as the operation it records, so an
operation whose record cannot be written does not happen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import hashlib
import hmac
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from prometheus_client import Counter
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import AuditHead, AuditRecord
from cifer_keyservice.errors import AuditUnavailable

log = logging.getLogger("cifer.audit")
GENESIS = "0" * 64
# The head migration 0005 gives a database whose audit key predates genesis heads and whose log is
# empty; the service's first start seals it with a real MAC (`seal_upgraded_head`).
UNSEALED_GENESIS_MAC = "unsealed-genesis"
_APPEND_LOCK_ID = 0x41554454  # "AUDT": serializes appends on PostgreSQL
_PENDING_LINES = "cifer.audit.lines"

# Built once: the append path runs on every decrypt, and SQLAlchemy memoizes a built statement's cache key.
_HEAD_TABLE, _RECORDS_TABLE = AuditHead.__table__, AuditRecord.__table__
_READ_HEAD = select(_HEAD_TABLE.c.seq, _HEAD_TABLE.c.hash, _HEAD_TABLE.c.mac).where(_HEAD_TABLE.c.id == 1)
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


def _fields(record: Mapping[str, Any] | AuditRecord) -> bytes:
    """The canonical bytes a record's MAC covers: its fields in a fixed order, as JSON."""
    get = (lambda name: getattr(record, name)) if isinstance(record, AuditRecord) else record.get
    values = [get(name) for name in _FIELDS]
    values[1] = values[1].astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(key: bytes, *parts: bytes) -> str:
    return hmac.new(key, b"\x00".join(parts), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, hash_: str) -> str:
    return _mac(key, b"head", str(seq).encode(), hash_.encode())


ANCHOR_ID = 2  # the `audit_head` row of the prune anchor: the last record pruned (audit_retention.py)


def anchor_mac(key: bytes, seq: int, hash_: str) -> str:
    return _mac(key, b"anchor", str(seq).encode(), hash_.encode())


def genesis_head(key: bytes) -> AuditHead:
    """The head of an empty log (seq 0), written with the audit key that will chain it."""
    return AuditHead(id=1, seq=0, hash=GENESIS, mac=_head_mac(key, 0, GENESIS))


async def seal_upgraded_head(sessions: async_sessionmaker, key: bytes) -> bool:
    """Gives migration 0005's unsealed genesis head its MAC; True if there was one to seal. Only a
    head of an empty log is sealed: any other head carrying the mark stays altered."""
    async with sessions.begin() as session:
        head = await session.get(AuditHead, 1)
        if head is None or head.mac != UNSEALED_GENESIS_MAC:
            return False
        if (head.seq, head.hash) != (0, GENESIS) or (await session.execute(select(AuditRecord.seq).limit(1))).first():
            return False
        head.mac = _head_mac(key, 0, GENESIS)
        return True


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """The log reached record `seq` with chain hash `hash`, kept outside the database.

    MAC'd (under the audit key, domain "checkpoint") rather than signed: whoever checks a
    checkpoint against the log must hold the audit key anyway to check the chain, so a signing
    key would add a second key to wrap, rotate and guard and let no one check more; and the MAC
    still tells an edited or foreign checkpoint from a rolled-back log. `hash` is itself a chain
    MAC, so `--expect SEQ:HASH`, copied by hand from the log stream, needs no MAC of its own
    (`mac` and `at` None)."""

    seq: int
    hash: str
    at: str | None = None  # ISO 8601, UTC, seconds
    mac: str | None = None


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

    def append_rows(self, session: Session, entries: list[Entry]) -> list[int]:
        """`append_many` on a synchronous session (the group commit's writer thread); the records'
        seqs, in order (an audit record's id)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_LOCK_APPENDS)
        head = session.execute(_READ_HEAD).first()
        # Wiped, or a head moved by hand: chaining on would launder it into a consistent log.
        problem = "missing" if head is None else None
        if head is not None and not hmac.compare_digest(head.mac, _head_mac(self._key, head.seq, head.hash)):
            problem = "altered"
        if problem is not None:
            if self._failures is not None:
                self._failures.inc()
            log.error("the audit log's head is %s; refusing the %s (run `cifer keyservice audit verify`)",
                      problem, entries[0].operation)
            raise AuditUnavailable("the audit log cannot be written")
        seq, prev_hash = head.seq, head.hash
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
        new_head = {"seq": seq, "hash": prev_hash, "mac": _head_mac(self._key, seq, prev_hash)}
        try:
            session.execute(_ADD_RECORDS, rows)
            session.execute(_MOVE_HEAD, new_head)
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
        return [row["seq"] for row in rows]

    def checkpoint(self, seq: int, hash_: str, at: datetime.datetime) -> Checkpoint:
        """A checkpoint of the log at `seq`, MAC'd under the audit key (see `Checkpoint`)."""
        at_iso = at.astimezone(datetime.UTC).isoformat(timespec="seconds")
        return Checkpoint(seq=seq, hash=hash_, at=at_iso, mac=self._checkpoint_mac(seq, hash_, at_iso))

    def _checkpoint_mac(self, seq: int, hash_: str, at: str) -> str:
        return _mac(self._key, b"checkpoint", str(seq).encode(), hash_.encode(), at.encode())

    def authentic(self, point: Checkpoint) -> bool:
        """Whether a checkpoint's MAC is this log's (constant time)."""
        return point.mac is not None and hmac.compare_digest(
            point.mac, self._checkpoint_mac(point.seq, point.hash, point.at or ""))

    async def holds(self, sessions: async_sessionmaker, seq: int, hash_: str) -> bool:
        """Whether record `seq` is in the log with chain hash `hash_` (seq 0: the genesis)."""
        if seq == 0:
            return hmac.compare_digest(hash_, GENESIS)
        async with sessions() as session:
            found = (await session.execute(select(AuditRecord.hash).where(AuditRecord.seq == seq))).scalar()
        return found is not None and hmac.compare_digest(found, hash_)

    async def head(self, sessions: async_sessionmaker) -> tuple[int, str] | None:
        """The newest (seq, hash) as the head names it; None when the head is missing."""
        async with sessions() as session:
            head = (await session.execute(_READ_HEAD)).first()
        return None if head is None else (head.seq, head.hash)

    async def verify_records(self, sessions: async_sessionmaker, records: Sequence[AuditRecord]) -> tuple[bool, str]:
        """(intact, what is wrong) for some records, as a query returned them: each is authentic under
        the audit key, the record before each is in the log with the hash it chains on, and the
        head is authentic. The whole log is `verify`'s: this proves the records shown, at the cost
        of one read."""
        wanted = sorted({record.seq - 1 for record in records if record.seq > 1})
        async with sessions() as session:
            head = await session.get(AuditHead, 1)
            anchor = await session.get(AuditHead, ANCHOR_ID)
            before = dict((await session.execute(
                select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.in_(wanted)))).all()) if wanted else {}
        if head is None or not hmac.compare_digest(head.mac, _head_mac(self._key, head.seq, head.hash)):
            return False, "the log head is missing or altered"
        if anchor is not None:
            if not hmac.compare_digest(anchor.mac, anchor_mac(self._key, anchor.seq, anchor.hash)):
                return False, "the prune anchor was altered"
            before.setdefault(anchor.seq, anchor.hash)
        for record in records:
            if not hmac.compare_digest(record.hash, _mac(self._key, record.prev_hash.encode(), _fields(record))):
                return False, f"record {record.seq} was altered"
            chained_on = GENESIS if record.seq == 1 else before.get(record.seq - 1)
            if chained_on is None:
                return False, f"record {record.seq - 1} is missing"
            if not hmac.compare_digest(chained_on, record.prev_hash):
                return False, f"record {record.seq - 1} was altered"
        return True, ""

    def _check_run(self, rows: Sequence[Mapping[str, Any]], prev_seq: int, prev_hash: str,
                   expected: Mapping[int, list[str]]) -> tuple[str, int, str, int]:
        """(what is wrong or "", last seq, last hash, records checked) of consecutive records
        chaining on (prev_seq, prev_hash). Pure computation: large runs go to a thread."""
        checked = 0
        for record in rows:
            seq = record["seq"]
            if seq != prev_seq + 1:
                return f"records {prev_seq + 1}..{seq - 1} are missing", prev_seq, prev_hash, checked
            expected_hash = _mac(self._key, prev_hash.encode(), _fields(record))
            if record["prev_hash"] != prev_hash or not hmac.compare_digest(record["hash"], expected_hash):
                return f"record {seq} was altered", prev_seq, prev_hash, checked
            if not all(hmac.compare_digest(record["hash"], h) for h in expected.get(seq, ())):
                return (f"record {seq} differs from the checkpoint of record {seq}: the log was rewritten after "
                        "that checkpoint"), prev_seq, prev_hash, checked
            prev_seq, prev_hash, checked = seq, record["hash"], checked + 1
        return "", prev_seq, prev_hash, checked

    async def verify(self, sessions: async_sessionmaker, *, checkpoints: Sequence[Checkpoint] = (),
                     batch: int = 10_000) -> tuple[bool, int, str]:
        """(intact, records checked, what is wrong). Reads the log in `seq` order in batches; the
        log must hold every checkpoint given, each with the same hash, and a MAC'd head. The MACs
        of a large batch are computed in a thread, so a serving event loop keeps serving."""
        intact, checked, problem, _last = await self._walk(sessions, checkpoints=checkpoints, batch=batch)
        return intact, checked, problem

    async def verify_to_head(self, sessions: async_sessionmaker, since: tuple[int, str] | None
                             ) -> tuple[bool, str, tuple[int, str]]:
        """(intact, what is wrong, the last record verified) of the records after `since` (a seq and
        hash verified before; None: all), reading none past the head as first read, so that appends
        meanwhile do not look like a forged tail (the running service's watch, chain_watch.py)."""
        intact, _checked, problem, last = await self._walk(sessions, since=since, to_head=True)
        return intact, problem, last

    async def _walk(self, sessions: async_sessionmaker, *, checkpoints: Sequence[Checkpoint] = (),
                    batch: int = 10_000, since: tuple[int, str] | None = None,
                    to_head: bool = False) -> tuple[bool, int, str, tuple[int, str]]:
        (prev_seq, prev_hash), checked = since or (0, GENESIS), 0

        def fail(problem: str) -> tuple[bool, int, str, tuple[int, str]]:
            return False, checked, problem, (prev_seq, prev_hash)

        for point in checkpoints:
            if point.mac is not None and not self.authentic(point):
                return fail(f"the checkpoint at record {point.seq} was not made with this log's audit key")
            if point.seq == 0 and not hmac.compare_digest(point.hash, GENESIS):
                return fail("a checkpoint at record 0 must name the genesis hash")
        expected: dict[int, list[str]] = {}
        for point in checkpoints:
            expected.setdefault(point.seq, []).append(point.hash)
        async with sessions() as session:
            head = await session.get(AuditHead, 1)
            anchor = await session.get(AuditHead, ANCHOR_ID)
            if anchor is not None:  # records up to it were pruned: the chain goes on from its hash
                if not hmac.compare_digest(anchor.mac, anchor_mac(self._key, anchor.seq, anchor.hash)):
                    return fail("the prune anchor was altered")
                if not all(hmac.compare_digest(anchor.hash, h) for h in expected.get(anchor.seq, ())):
                    return fail(f"the prune anchor differs from the checkpoint of record {anchor.seq}")
                # Checkpoints of pruned records went with them; the anchor's MAC vouches for where the chain resumes.
                expected = {seq: hashes for seq, hashes in expected.items() if seq > anchor.seq}
                if anchor.seq >= prev_seq:
                    prev_seq, prev_hash = anchor.seq, anchor.hash
            last = head.seq if to_head and head is not None else None
            while True:
                wanted = select(_RECORDS_TABLE).where(_RECORDS_TABLE.c.seq > prev_seq)
                if last is not None:
                    wanted = wanted.where(_RECORDS_TABLE.c.seq <= last)
                rows = (await session.execute(  # rows, not ORM objects: a million of them is the common case
                    wanted.order_by(_RECORDS_TABLE.c.seq).limit(batch))).mappings().all()
                check = functools.partial(self._check_run, rows, prev_seq, prev_hash, expected)
                problem, prev_seq, prev_hash, count = await asyncio.to_thread(check) if len(rows) > 1000 else check()
                checked += count
                if problem:
                    return fail(problem)
                if len(rows) < batch:
                    break
        if head is None:
            return fail("the log head is missing: the log was wiped, or its genesis head removed")
        if not hmac.compare_digest(head.mac, _head_mac(self._key, head.seq, head.hash)):
            return fail("the log head was altered")
        if (head.seq, head.hash) != (prev_seq, prev_hash):
            return fail(f"the log ends at record {prev_seq} but its head names record {head.seq}")
        if expected and max(expected) > prev_seq:
            return fail(f"the log ends at record {prev_seq} but a checkpoint names record {max(expected)}: "
                        f"records after {prev_seq} were removed (the log was rolled back)")
        return True, checked, "", (prev_seq, prev_hash)
