"""Decapsulation for sidecars: envelope headers in, data keys out; never a seed, never a payload.

Each header is checked on its own (parse, cifer state, version state, policy), so one bad
header in a batch fails alone. Seeds are unwrapped by the KEK once per key version and kept in
the bounded seed cache (`seedcache.py`); authorization never reads the cache. Every item is
audited, and the data keys are released only after the audit transaction committed: no
record, no key (fail closed). Concurrent requests' records and usage counters share one
transaction (`groupcommit.py`); if it fails, no request of the group gets a key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import Counter as MetricCounter
from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from cifer.crypto.suites import suite_by_name
from cifer.envelope import Header, Recipient, parse_header_exact, rewrap_header
from cifer.exceptions import InvalidCiphertext, InvalidWrappedKey
from cifer.keystore.store import Keystore, StoredKey
from cifer.dataprotection.values import DATA_TYPE
from cifer_keyservice import errors, events
from cifer_keyservice.audit import AuditLog, Entry
from cifer_keyservice.cifers import Caller, policy_of
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, CiferVersion
from cifer_keyservice.groupcommit import CommitFailed, GroupCommit
from cifer_keyservice.records import Policy
from cifer_keyservice.seedcache import SeedCache

log = logging.getLogger("cifer.keyservice")
INLINE_HEADERS = 4  # at most this many headers with cached seeds open on the event loop (~0.1 ms each)

# Built once: they run on every decrypt, and SQLAlchemy memoizes a built statement's cache key.
_CIFERS = select(Cifer).where(Cifer.id.in_(bindparam("ids", expanding=True)))
_VERSIONS = select(CiferVersion).where(CiferVersion.cifer_id.in_(bindparam("ids", expanding=True)))
_CIFERS_TABLE = Cifer.__table__
_COUNT_USE = update(_CIFERS_TABLE).where(_CIFERS_TABLE.c.id == bindparam("b_id")).values(
    decryptions=_CIFERS_TABLE.c.decryptions + bindparam("b_successes", type_=Integer),
    decrypt_failures=_CIFERS_TABLE.c.decrypt_failures + bindparam("b_failures", type_=Integer),
    last_used_at=func.coalesce(bindparam("b_used_at", type_=_CIFERS_TABLE.c.last_used_at.type), _CIFERS_TABLE.c.last_used_at),
)


@dataclasses.dataclass
class Item:
    """One header's way through a request: its data key, or the error that stopped it."""

    index: int
    header: Header | None = None
    data_key: bytes | None = None
    error: errors.KeyServiceError | None = None
    context: Mapping[str, str] | None = None  # why and for whom (seed 001's accessPurpose, userId): audited
    audit_seq: int | None = None  # its audit record, once committed

    def fail(self, error: type[errors.KeyServiceError], message: str | None = None, **details: Any) -> None:
        cifer = {"cifer_id": self.header.cifer_id} if self.header else {}
        self.error = error(message, **cifer, **details)


@dataclasses.dataclass(frozen=True)
class Usage:
    """One request's writes for the group commit: its audit records, counters and failure events."""

    entries: list[Entry]
    successes: Counter
    failures: Counter
    failed: list[dict[str, Any]]  # data of each decrypt.failed event (with its owner_id)
    seqs: list[int] = dataclasses.field(default_factory=list)  # its records' seqs, once written


@dataclasses.dataclass(frozen=True)
class Rewrapped:
    header: bytes  # the new header, sealed to `key_version`
    cifer_id: str
    key_version: int
    previous_key_version: int


def _details(item: Item) -> dict[str, Any]:
    """An audit record's details: the envelope's message id (how many envelopes were opened is
    counted by it) and seed 001's data type where the envelope names one, or the error."""
    context = dict(item.context or {})
    if item.error is not None:
        return {"error": item.error.code, **context}
    details = {"message_id": item.header.message_id.hex(), **context}
    if DATA_TYPE in item.header.metadata:
        details["data_type"] = item.header.metadata[DATA_TYPE]
    return details


class DecapService:
    def __init__(self, sessions: async_sessionmaker, keystore: Keystore, audit: AuditLog, *, group: GroupCommit,
                 lookups: GroupCommit, seeds: SeedCache, outcomes: MetricCounter | None = None) -> None:
        """`group`: the writes' group commit; `lookups`: groups of reads (cifers and versions)."""
        self._sessions = sessions
        self._lookups = lookups
        self._keystore = keystore
        self._audit = audit
        self._group = group
        self._seeds = seeds
        self._outcomes = outcomes
        self._slots = asyncio.Semaphore(256)

    def set_concurrency(self, operations: int) -> None:
        """At most this many requests open headers at once; more wait their turn (the configuration's
        maxConcurrentOperations). Requests holding a slot of the previous bound finish under it."""
        self._slots = asyncio.Semaphore(operations)

    @staticmethod
    def _read_many(session: Session, wanted: list[set[str]]) -> list[tuple[dict, dict]]:
        """The cifers and versions each request wants, read for a group of requests at once
        (two statements for all of them): ({id: Cifer}, {(id, version): CiferVersion}) each."""
        ids = sorted(set().union(*wanted))
        cifers = {c.id: c for c in session.execute(_CIFERS, {"ids": ids}).scalars()}
        versions: dict[str, dict[tuple[str, int], CiferVersion]] = {}
        for version in session.execute(_VERSIONS, {"ids": ids}).scalars():
            versions.setdefault(version.cifer_id, {})[(version.cifer_id, version.version)] = version
        session.expunge_all()  # read-only snapshots, shared by the group's requests
        return [({i: cifers[i] for i in want if i in cifers},
                 {key: v for i in want for key, v in versions.get(i, {}).items()}) for want in wanted]

    def _authorize(self, caller: Caller, item: Item, cifer: Cifer | None, policy: Policy | None,
                   version: CiferVersion | None, now: datetime.datetime) -> None:
        header = item.header
        if cifer is None:
            return item.fail(errors.NotFound)
        if cifer.status == "revoked":
            return item.fail(errors.Revoked)
        allowed = caller.principal.id == cifer.owner_id or caller.principal.id in policy.allowed_principals
        if not allowed or not policy.allows("decrypt"):
            return item.fail(errors.DecryptDenied, "You are not authorized to decrypt this ciphertext",
                             required_permission="owner")
        purpose = (item.context or {}).get("purpose")
        if policy.allowed_purposes and purpose not in policy.allowed_purposes:
            return item.fail(errors.DecryptDenied, "this key's policy does not allow decryption for this purpose",
                             allowed_purposes=list(policy.allowed_purposes))
        if version is None or header.suite.name != cifer.suite:
            return item.fail(errors.UnopenableHeader, "unknown key version", key_version=header.key_version)
        if version.state == "retired" or (version.decrypt_until is not None and version.decrypt_until < now):
            return item.fail(errors.UnopenableHeader, "this key version is retired; rewrap before its deadline",
                             key_version=header.key_version)
        return None

    @staticmethod
    def _stored(key: tuple[str, int], versions: dict[tuple[str, int], CiferVersion], suites: dict[str, str]) -> StoredKey:
        version = versions[key]
        return StoredKey(suite_by_name(suites[key[0]]), version.public_key, version.wrapped_seed, version.kek_id)

    def _open(self, items: list[Item], versions: dict[tuple[str, int], CiferVersion], suites: dict[str, str]) -> None:
        """The KEK unwraps each needed seed once (or the seed cache has it), then every header opens;
        in an executor unless every seed is cached and the headers are few."""
        by_version: dict[tuple[str, int], list[Item]] = {}
        for item in items:
            by_version.setdefault((item.header.cifer_id, item.header.key_version), []).append(item)
        for key, group in by_version.items():
            stored = self._stored(key, versions, suites)
            try:
                open_header = self._seeds.opener(*key, stored, self._keystore.opener)  # the KEK, on a miss
            except InvalidWrappedKey:
                log.error("stored key %s v%d does not unwrap", key[0], key[1])
                for item in group:
                    item.fail(errors.StoredKeyDamaged)
                continue
            for item in group:
                try:
                    item.data_key = open_header(item.header)
                except InvalidCiphertext:
                    item.fail(errors.UnopenableHeader)

    async def open_headers(self, caller: Caller, raw_headers: Sequence[bytes], *, operation: str = "decrypt",
                           contexts: Sequence[Mapping[str, str] | None] | None = None) -> list[Item]:
        """`contexts`, one per header where given, go into the audit records."""
        started = time.perf_counter()
        async with self._slots:
            return await self._open_headers(caller, raw_headers, operation, contexts, started)

    async def _open_headers(self, caller: Caller, raw_headers: Sequence[bytes], operation: str,
                            contexts: Sequence[Mapping[str, str] | None] | None, started: float) -> list[Item]:
        items = [Item(index, context=contexts[index] if contexts else None) for index in range(len(raw_headers))]
        for item, raw in zip(items, raw_headers):
            try:
                item.header = parse_header_exact(raw)
            except InvalidCiphertext:
                item.fail(errors.UnopenableHeader)
        wanted = {item.header.cifer_id for item in items if item.error is None}
        try:
            cifers, versions = await self._lookups.submit(self._read_many, wanted)
        except CommitFailed as exc:  # the database's own error, as the request would have met it alone
            raise (exc.__cause__ or exc) from None
        policies = {cifer_id: policy_of(cifer) for cifer_id, cifer in cifers.items()}
        now = utcnow()
        for item in items:
            if item.error is None:
                cifer_id = item.header.cifer_id
                self._authorize(caller, item, cifers.get(cifer_id), policies.get(cifer_id),
                                versions.get((cifer_id, item.header.key_version)), now)
        to_open = [item for item in items if item.error is None]
        if to_open:
            suites = {cid: cifer.suite for cid, cifer in cifers.items()}
            if len(to_open) <= INLINE_HEADERS and all(self._seeds.holds(*key, self._stored(key, versions, suites))
                                                      for key in {(i.header.cifer_id, i.header.key_version)
                                                                  for i in to_open}):
                self._open(to_open, versions, suites)  # a few decapsulations: cheaper than a thread hop
            else:  # the KEK (an HSM call blocks) or a big batch: off the event loop
                await asyncio.get_running_loop().run_in_executor(None, self._open, to_open, versions, suites)
        await self._record(caller, items, cifers, operation, round((time.perf_counter() - started) * 1000, 3))
        return items

    async def _record(self, caller: Caller, items: list[Item], cifers: dict[str, Cifer], operation: str,
                      duration_ms: float) -> None:
        """Audit every item, count usage, announce failures, in the group's transaction. If that
        does not commit, no key of this request leaves. `duration_ms`: the request's time in the
        service until now (the whole batch's, for every item of it), seed 001's `operationDuration`."""
        usage = Usage([], Counter(), Counter(), [])
        for item in items:
            header = item.header
            denied = isinstance(item.error, errors.DecryptDenied)
            outcome = "success" if item.error is None else ("denied" if denied else "failure")
            usage.entries.append(caller.entry(
                operation, outcome, cifer_id=header.cifer_id if header else None,
                key_version=header.key_version if header else None,
                details={**_details(item), "duration_ms": duration_ms},
            ))
            if header is None or header.cifer_id not in cifers:
                continue
            if item.error is None:
                usage.successes[header.cifer_id] += 1
            else:
                usage.failures[header.cifer_id] += 1
                cifer = cifers[header.cifer_id]
                usage.failed.append({
                    "cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id,
                    "key_version": header.key_version, "principal": caller.principal.id, "reason": item.error.code,
                })
        try:
            await self._group.submit(self._write_usage, usage)
            for item, seq in zip(items, usage.seqs):
                item.audit_seq = seq
        except CommitFailed as exc:
            for item in items:
                item.data_key = None
            if isinstance(exc.__cause__, errors.KeyServiceError) and not isinstance(exc.__cause__, errors.AuditUnavailable):
                raise exc.__cause__ from None
            log.error("audit record could not be written; refusing the %s", operation)
            raise errors.AuditUnavailable("the audit log cannot be written") from None
        if self._outcomes is not None:  # counted once committed: a refused batch decrypted nothing
            for entry in usage.entries:
                self._outcomes.labels(entry.outcome).inc()

    def _write_usage(self, session: Session, group: list[Usage]) -> list[None]:
        """A group's records in one append, its counters in one executemany (a `GroupCommit` writer)."""
        seqs = iter(self._audit.append_rows(session, [entry for usage in group for entry in usage.entries]))
        for usage in group:
            usage.seqs[:] = [next(seqs) for _ in usage.entries]
        successes, failures = Counter(), Counter()
        for usage in group:
            successes.update(usage.successes)
            failures.update(usage.failures)
        now = utcnow()
        used = [{"b_id": cifer_id, "b_successes": successes[cifer_id], "b_failures": failures[cifer_id],
                 "b_used_at": now if successes[cifer_id] else None}
                for cifer_id in sorted(successes.keys() | failures.keys())]  # sorted: one lock order for all
        if used:
            session.execute(_COUNT_USE, used)
        for usage in group:
            for data in usage.failed:
                events.emit_in(session, "decrypt.failed", owner_id=data["owner_id"], data=data)
        return [None] * len(group)

    async def rewrap(self, caller: Caller, raw_header: bytes) -> Rewrapped:
        """The header resealed to the cifer's current version; the payload it fronts is untouched."""
        (item,) = await self.open_headers(caller, [raw_header], operation="rewrap")
        if item.error is not None:
            raise item.error
        async with self._sessions.begin() as session:
            cifer = await session.get(Cifer, item.header.cifer_id)
            current = await session.get(CiferVersion, (cifer.id, cifer.current_version))
        recipient = Recipient(cifer.id, current.version, suite_by_name(cifer.suite), current.public_key)
        new_header = rewrap_header(item.header, item.data_key, recipient)
        return Rewrapped(header=new_header.to_bytes(), cifer_id=cifer.id, key_version=current.version,
                         previous_key_version=item.header.key_version)
