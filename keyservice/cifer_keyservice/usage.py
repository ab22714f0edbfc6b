"""Usage the sidecars report (`POST /v1/usage`, format in `cifer/api/usage.py`): their local
encryptions and the payloads that failed authentication after their data key was released.

A report is the authenticated caller's own: its principal is the one the records name. One
transaction holds everything a report changes, so it counts whole or not at all:

- `usage_reports` gets (principal, report_id); a report seen before changes nothing else and is
  answered `duplicate: true` (a sidecar retrying after a lost answer). Ids are kept
  `report_ttl_s`, far longer than a sidecar retries.
- per cifer, atomically in SQL (decapsulations count the same row concurrently): `encryptions`
  and `encrypted_bytes` grow; a payload failure moves one decryption from `decryptions` (the
  key service counted the release of its data key as a success) to `decrypt_failures`.
- audit records through the log's append path, aggregated: one `encrypt` record per cifer
  (details: count, bytes, window, report_id, and the entry's labels) and one `decrypt`/`failure` record for its
  payload failures (error INVALID_CIPHERTEXT, stage payload, count, window).
- a `decrypt.failed` event per cifer with payload failures (data: the count).

What a report can claim: encryptions with any existing cifer (anyone may encrypt with a public
key) when the principal holds the `encrypt` scope, payload failures only with a cifer whose key
the principal may have been given (its owner or a principal its policy allows); other claims
are answered in `refused_cifer_ids` and change nothing. (The endpoint asks no one scope: a
decrypt-only credential reports its failures, an encrypt-only one its encryptions.) A reporter can inflate its own encryption counts, never hide another's:
each record names it, in the chained log.
"""

from __future__ import annotations

import dataclasses
import datetime

from sqlalchemy import Integer, bindparam, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cifer.api.timestamps import unix_iso
from cifer.api.usage import Entry as Usage
from cifer.api.usage import Report
from cifer_keyservice import events
from cifer_keyservice.audit import AuditLog, Entry
from cifer_keyservice.cifers import Caller, policy_of
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, UsageReport

PAYLOAD_FAILURE = "INVALID_CIPHERTEXT"  # the code the sidecar answered the failed decrypt with
_TABLE = Cifer.__table__
_COUNT = update(_TABLE).where(_TABLE.c.id == bindparam("b_id")).values(
    encryptions=_TABLE.c.encryptions + bindparam("b_encryptions", type_=Integer),
    encrypted_bytes=_TABLE.c.encrypted_bytes + bindparam("b_bytes", type_=Integer),
    decrypt_failures=_TABLE.c.decrypt_failures + bindparam("b_failures", type_=Integer),
    decryptions=case((_TABLE.c.decryptions >= bindparam("b_failures", type_=Integer),
                      _TABLE.c.decryptions - bindparam("b_failures", type_=Integer)), else_=0),
    last_used_at=func.coalesce(bindparam("b_used_at", type_=_TABLE.c.last_used_at.type), _TABLE.c.last_used_at),
)


@dataclasses.dataclass(frozen=True)
class Counted:
    report_id: str
    duplicate: bool
    accepted: int  # entries that changed something
    unknown_cifer_ids: tuple[str, ...]
    refused_cifer_ids: tuple[str, ...]  # failure claims of a principal who could not have had the key


def encrypt_entry(caller: Caller, usage: Usage, report_id: str) -> Entry:
    """The aggregated `encrypt` record: encryptions the sidecar made locally with one cifer."""
    return caller.entry("encrypt", "success", cifer_id=usage.cifer_id, details={
        "count": usage.encryptions, "bytes": usage.encrypted_bytes, "window": _window(usage), "report_id": report_id,
        **usage.labels})


def payload_failure_entry(caller: Caller, usage: Usage, report_id: str) -> Entry:
    """The aggregated record of payloads that failed authentication in the sidecar."""
    return caller.entry("decrypt", "failure", cifer_id=usage.cifer_id, details={
        "error": PAYLOAD_FAILURE, "stage": "payload", "count": usage.failed_decryptions, "window": _window(usage),
        "report_id": report_id})


def _window(usage: Usage) -> dict[str, str]:
    return {"start": unix_iso(usage.start), "end": unix_iso(usage.end)}


def _may_have_key(caller: Caller, cifer: Cifer) -> bool:
    """Whom decapsulation would have released the cifer's data keys to."""
    return caller.principal.id == cifer.owner_id or caller.principal.id in policy_of(cifer).allowed_principals


class UsageService:
    def __init__(self, sessions: async_sessionmaker, audit: AuditLog, *, report_ttl_s: float = 86400.0) -> None:
        self._sessions = sessions
        self._audit = audit
        self._report_ttl_s = report_ttl_s

    async def report(self, caller: Caller, report: Report) -> Counted:
        try:
            async with self._sessions.begin() as session:
                return await self._count(session, caller, report)
        except IntegrityError:  # the same report, counted meanwhile by a concurrent call
            async with self._sessions.begin() as session:
                if await self._seen(session, caller, report):
                    return Counted(report.report_id, True, 0, (), ())
            raise

    @staticmethod
    async def _seen(session: AsyncSession, caller: Caller, report: Report) -> bool:
        return await session.get(UsageReport, (caller.principal.id, report.report_id)) is not None

    async def _count(self, session: AsyncSession, caller: Caller, report: Report) -> Counted:
        if await self._seen(session, caller, report):
            return Counted(report.report_id, True, 0, (), ())
        now = utcnow()
        session.add(UsageReport(principal=caller.principal.id, report_id=report.report_id, received_at=now))
        await session.flush()
        ids = sorted({usage.cifer_id for usage in report.entries})  # sorted: one lock order for all
        cifers = {c.id: c for c in (await session.execute(select(Cifer).where(Cifer.id.in_(ids)))).scalars()}
        totals: dict[str, list[int]] = {}
        records: list[Entry] = []
        failed: list[tuple[Cifer, int]] = []
        unknown, refused, accepted = [], [], 0
        may_encrypt = caller.principal.is_admin or "encrypt" in caller.principal.scopes
        for usage in report.entries:
            cifer = cifers.get(usage.cifer_id)
            if cifer is None:
                unknown.append(usage.cifer_id)
                continue
            encryptions, failures = usage.encryptions, usage.failed_decryptions
            if (encryptions and not may_encrypt) or (failures and not _may_have_key(caller, cifer)):
                refused.append(usage.cifer_id)
                encryptions = encryptions if may_encrypt else 0
                failures = failures if _may_have_key(caller, cifer) else 0
            if not encryptions and not failures:
                continue
            accepted += 1
            total = totals.setdefault(cifer.id, [0, 0, 0])
            total[0] += encryptions
            total[1] += usage.encrypted_bytes if encryptions else 0
            total[2] += failures
            if encryptions:
                records.append(encrypt_entry(caller, usage, report.report_id))
            if failures:
                records.append(payload_failure_entry(caller, dataclasses.replace(usage, failed_decryptions=failures),
                                                     report.report_id))
                failed.append((cifer, failures))
        if totals:
            await session.execute(_COUNT, [
                {"b_id": cifer_id, "b_encryptions": e, "b_bytes": b, "b_failures": f,
                 "b_used_at": now if e else None}
                for cifer_id, (e, b, f) in sorted(totals.items())])
        if records:
            await self._audit.append_many(session, records)
        for cifer, failures in failed:
            await events.emit(session, "decrypt.failed", owner_id=cifer.owner_id, data={
                "cifer_id": cifer.id, "name": cifer.name, "owner_id": cifer.owner_id,
                "principal": caller.principal.id, "reason": PAYLOAD_FAILURE, "count": failures})
        await session.execute(delete(UsageReport).where(
            UsageReport.received_at < now - datetime.timedelta(seconds=self._report_ttl_s)))
        return Counted(report.report_id, False, accepted, tuple(unknown), tuple(refused))
