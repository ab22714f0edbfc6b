"""Decapsulation for sidecars: envelope headers in, data keys out; never a seed, never a payload.

Each header is checked on its own (parse, cifer state, version state, policy), so one bad
header in a batch fails alone. Seeds are unwrapped by the KEK once per key version per
request and dropped when the request ends. Every item is audited, and the data keys are
released only after the audit transaction committed: no record, no key (fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter as MetricCounter
from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.crypto.suites import suite_by_name
from cifer.envelope import Header, Recipient, parse_header_exact, rewrap_header
from cifer.exceptions import InvalidCiphertext, InvalidWrappedKey
from cifer.keystore.store import Keystore, StoredKey
from cifer_keyservice import errors, events
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.cifers import Caller, policy_of
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, CiferVersion
from cifer_keyservice.records import Policy

log = logging.getLogger("cifer.keyservice")

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

    def fail(self, error: type[errors.KeyServiceError], message: str | None = None, **details: Any) -> None:
        cifer = {"cifer_id": self.header.cifer_id} if self.header else {}
        self.error = error(message, **cifer, **details)


@dataclasses.dataclass(frozen=True)
class Rewrapped:
    header: bytes  # the new header, sealed to `key_version`
    cifer_id: str
    key_version: int
    previous_key_version: int


class DecapService:
    def __init__(self, sessions: async_sessionmaker, keystore: Keystore, audit: AuditLog, *,
                 readers: async_sessionmaker | None = None, outcomes: MetricCounter | None = None) -> None:
        self._sessions = sessions
        self._readers = readers or sessions
        self._keystore = keystore
        self._audit = audit
        self._outcomes = outcomes

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
        if version is None or header.suite.name != cifer.suite:
            return item.fail(errors.UnopenableHeader, "unknown key version", key_version=header.key_version)
        if version.state == "retired" or (version.decrypt_until is not None and version.decrypt_until < now):
            return item.fail(errors.UnopenableHeader, "this key version is retired; rewrap before its deadline",
                             key_version=header.key_version)
        return None

    def _open(self, items: list[Item], versions: dict[tuple[str, int], CiferVersion], suites: dict[str, str]) -> None:
        """Runs in an executor: the KEK unwraps each needed seed once, then every header opens."""
        by_version: dict[tuple[str, int], list[Item]] = {}
        for item in items:
            by_version.setdefault((item.header.cifer_id, item.header.key_version), []).append(item)
        for key, group in by_version.items():
            version = versions[key]
            stored = StoredKey(suite_by_name(suites[key[0]]), version.public_key, version.wrapped_seed, version.kek_id)
            try:
                open_header = self._keystore.opener(stored)  # the seed is unwrapped once per version
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

    async def open_headers(self, caller: Caller, raw_headers: Sequence[bytes], *, operation: str = "decrypt") -> list[Item]:
        items = [Item(index) for index in range(len(raw_headers))]
        for item, raw in zip(items, raw_headers):
            try:
                item.header = parse_header_exact(raw)
            except InvalidCiphertext:
                item.fail(errors.UnopenableHeader)
        wanted = {item.header.cifer_id for item in items if item.error is None}
        async with self._readers.begin() as session:
            cifers = {c.id: c for c in (await session.execute(_CIFERS, {"ids": list(wanted)})).scalars()}
            rows = (await session.execute(_VERSIONS, {"ids": list(wanted)})).scalars()
            versions = {(v.cifer_id, v.version): v for v in rows}
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
            await asyncio.get_running_loop().run_in_executor(None, self._open, to_open, versions, suites)
        await self._record(caller, items, cifers, operation)
        return items

    async def _record(self, caller: Caller, items: list[Item], cifers: dict[str, Cifer], operation: str) -> None:
        """Audit every item, count usage, announce failures. If this cannot be written, no key leaves."""
        entries, successes, failures = [], Counter(), Counter()
        failed_items = []
        for item in items:
            header = item.header
            denied = isinstance(item.error, errors.DecryptDenied)
            outcome = "success" if item.error is None else ("denied" if denied else "failure")
            entries.append(caller.entry(
                operation, outcome, cifer_id=header.cifer_id if header else None,
                key_version=header.key_version if header else None,
                details={} if item.error is None else {"error": item.error.code},
            ))
            if header is None or header.cifer_id not in cifers:
                continue
            if item.error is None:
                successes[header.cifer_id] += 1
            else:
                failures[header.cifer_id] += 1
                failed_items.append(item)
        try:
            async with self._sessions.begin() as session:
                await self._audit.append_many(session, entries)
                now = utcnow()
                used = [{"b_id": cifer_id, "b_successes": successes[cifer_id], "b_failures": failures[cifer_id],
                         "b_used_at": now if successes[cifer_id] else None}
                        for cifer_id in successes.keys() | failures.keys()]
                if used:
                    await session.execute(_COUNT_USE, used)
                for item in failed_items:
                    cifer = cifers[item.header.cifer_id]
                    await events.emit(session, "decrypt.failed", owner_id=cifer.owner_id, data={
                        "cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id,
                        "key_version": item.header.key_version, "principal": caller.principal.id,
                        "reason": item.error.code,
                    })
        except SQLAlchemyError:
            log.exception("audit record could not be written; refusing the %s", operation)
            for item in items:
                item.data_key = None
            raise errors.AuditUnavailable("the audit log cannot be written") from None
        except errors.KeyServiceError:
            for item in items:
                item.data_key = None
            raise
        if self._outcomes is not None:  # counted once committed: a refused batch decrypted nothing
            for entry in entries:
                self._outcomes.labels(entry.outcome).inc()

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
