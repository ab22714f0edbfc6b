"""Seed 001's security alerts: four detectors over the audit log, their alerts stored, announced
and resolved (docs/security-api.md, "Alerts").

A scan looks at the records of the last `window` (15 minutes) before `now`:

| detector | fires when | seed type | severity |
|----------|-----------|-----------|----------|
| `repeated_failures` | one principal has >= `failures` (5) failed or refused operations on one key in the window | `multiple_failures` | medium; high from 4x |
| `high_volume` | a key's operations in the last hour exceed `volume_factor` (10) times its hourly average over the `trailing_days` (7) before, and `volume_minimum` (100) | `high_volume` | high |
| `new_principal` | a principal other than the key's owner decrypts with a key it has no earlier record with | `unusual_access` | low |
| `rotation_overdue` | a key is used after its rotation was due: its scheduled rotation time, or, without one, `rotation_interval_days` (90, or the configured policy's) after its current version was made | `suspicious_pattern` | medium |

An alert is about a detector, a key and (for the first and third) a principal. While it is open a
scan that finds the same thing again updates it (the larger count, the later end) instead of
raising another: `open_key` is unique while set. What a resolved alert covered raises nothing
again: failures are counted afresh from its end, and other findings must go on past it (a key
still overdue and still used raises a new alert at its next use). A new alert is written with a `security.alert`
event (to the key owner's webhooks) in one transaction. Resolving it (`POST
/api/security/alerts/{alertId}/resolve`, an admin) records who, when and why, and frees
`open_key`: the same finding afterwards is a new alert.

Scans run every `scan_interval_s` in the service, and before the usage, report, alert and health
answers that show alerts, unless one finished less than 5 seconds before: what they show is at
most that old.
Replicas may scan at once: the unique `open_key` keeps one open alert per finding."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cifer.api.timestamps import iso
from cifer_keyservice import activity, events, periodic
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.cifers import Caller
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import AuditRecord, Cifer, CiferVersion, SecurityAlert

log = logging.getLogger("cifer.alerts")
FRESH_S = datetime.timedelta(seconds=5)
SEED_TYPES = {"repeated_failures": "multiple_failures", "high_volume": "high_volume",
              "new_principal": "unusual_access", "rotation_overdue": "suspicious_pattern"}


@dataclasses.dataclass(frozen=True)
class Thresholds:
    window_s: float = 900.0
    failures: int = 5
    volume_factor: float = 10.0
    volume_minimum: int = 100
    trailing_days: int = 7
    rotation_interval_days: int = 90


@dataclasses.dataclass(frozen=True)
class Finding:
    detector: str
    cifer_id: str
    principal: str | None
    severity: str
    description: str
    affected: int
    first_at: datetime.datetime
    last_at: datetime.datetime

    @property
    def open_key(self) -> str:
        return f"{self.detector}|{self.cifer_id}|{self.principal or ''}"


def alert_view(alert: SecurityAlert) -> dict[str, Any]:
    """Seed 001's SecurityAlert, with CIFER's extensions (what and whom it is about)."""
    return {
        "id": alert.id, "timestamp": iso(alert.created_at), "severity": alert.severity, "type": alert.type,
        "description": alert.description, "affectedOperations": alert.affected_operations,
        "resolved": alert.resolved_at is not None,
        **({"resolutionDate": iso(alert.resolved_at)} if alert.resolved_at is not None else {}),
        "detector": alert.detector, "keyId": alert.cifer_id, "principal": alert.principal,
        "firstSeen": iso(alert.first_at), "lastSeen": iso(alert.last_at),
        "resolvedBy": alert.resolved_by, "resolution": alert.resolution,
    }


class AlertNotFound(LookupError):
    pass


class SecurityAlerts:
    def __init__(self, sessions: async_sessionmaker, audit: AuditLog, *, thresholds: Thresholds = Thresholds()) -> None:
        self._sessions = sessions
        self._audit = audit
        self.thresholds = thresholds
        self._scanned_at: datetime.datetime | None = None

    async def scan_fresh(self, now: datetime.datetime | None = None, *,
                         rotation_interval_days: int | None = None) -> None:
        """A scan, unless this replica finished one less than FRESH_S ago: answers that show alerts
        call this, so a burst of them costs one scan, and what they show is at most FRESH_S old."""
        now = now or utcnow()
        if self._scanned_at is None or not now - FRESH_S < self._scanned_at <= now:
            await self.scan(now, rotation_interval_days=rotation_interval_days)

    async def scan(self, now: datetime.datetime | None = None, *,
                   rotation_interval_days: int | None = None) -> list[SecurityAlert]:
        """Runs every detector over the window before `now`; answers the alerts it raised."""
        now = now or utcnow()
        since = now - datetime.timedelta(seconds=self.thresholds.window_s)
        async with self._sessions() as session:
            findings = [*await self._failures(session, since, now), *await self._volume(session, now),
                        *await self._new_principals(session, since, now),
                        *await self._overdue(session, since, now, rotation_interval_days)]
        raised = []
        for finding in findings:
            finding = await self._since_resolved(finding)
            if finding is None:
                continue
            alert = await self._store(finding, now)
            if alert is not None:
                raised.append(alert)
        self._scanned_at = now
        return raised

    async def _since_resolved(self, finding: Finding) -> Finding | None:
        """The finding as far as it is news: what a resolved alert already covered does not raise
        another. Failures are counted again from the end of the resolved alert; anything else
        counts only if it went on after it."""
        async with self._sessions() as session:
            until = (await session.execute(select(func.max(SecurityAlert.last_at)).where(
                SecurityAlert.detector == finding.detector, SecurityAlert.cifer_id == finding.cifer_id,
                SecurityAlert.principal.is_(None) if finding.principal is None
                else SecurityAlert.principal == finding.principal,
                SecurityAlert.resolved_at.is_not(None)))).scalar()
            if until is None or finding.first_at > until:
                return finding
            if finding.last_at <= until:
                return None
            if finding.detector != "repeated_failures":
                return finding
            count, first = (await session.execute(
                select(func.sum(activity.FAILURES), func.min(AuditRecord.at))
                .where(AuditRecord.cifer_id == finding.cifer_id, AuditRecord.principal == finding.principal,
                       AuditRecord.at > until, AuditRecord.at <= finding.last_at,
                       AuditRecord.outcome != "success"))).one()
        if not count or count < self.thresholds.failures:
            return None
        return dataclasses.replace(finding, affected=int(count), first_at=first)

    async def _failures(self, session: AsyncSession, since: datetime.datetime, now: datetime.datetime) -> list[Finding]:
        least = self.thresholds.failures
        failed = func.sum(activity.FAILURES)
        rows = (await session.execute(
            select(AuditRecord.cifer_id, AuditRecord.principal, failed, func.min(AuditRecord.at), func.max(AuditRecord.at))
            .where(AuditRecord.at >= since, AuditRecord.at <= now, AuditRecord.outcome != "success",
                   AuditRecord.cifer_id.is_not(None))
            .group_by(AuditRecord.cifer_id, AuditRecord.principal).having(failed >= least))).all()
        return [Finding("repeated_failures", cifer_id, principal, "high" if count >= 4 * least else "medium",
                        f"{count} failed or refused operations by {principal} on key {cifer_id} within "
                        f"{self.thresholds.window_s / 60:g} minutes", int(count), first, last)
                for cifer_id, principal, count, first, last in rows]

    async def _volume(self, session: AsyncSession, now: datetime.datetime) -> list[Finding]:
        hour_ago = now - datetime.timedelta(hours=1)
        operations = func.sum(activity.OPERATIONS)
        recent = (await session.execute(
            select(AuditRecord.cifer_id, operations, func.min(AuditRecord.at), func.max(AuditRecord.at))
            .where(AuditRecord.at >= hour_ago, AuditRecord.at <= now, AuditRecord.cifer_id.is_not(None),
                   AuditRecord.operation.in_(activity.USAGE_OPERATIONS))
            .group_by(AuditRecord.cifer_id).having(operations >= self.thresholds.volume_minimum))).all()
        findings = []
        trailing_start = hour_ago - datetime.timedelta(days=self.thresholds.trailing_days)
        for cifer_id, count, first, last in recent:
            before = (await session.execute(
                select(func.coalesce(func.sum(activity.OPERATIONS), 0))
                .where(AuditRecord.cifer_id == cifer_id, AuditRecord.at >= trailing_start, AuditRecord.at < hour_ago,
                       AuditRecord.operation.in_(activity.USAGE_OPERATIONS)))).scalar_one()
            hourly = int(before) / (self.thresholds.trailing_days * 24)
            if count > self.thresholds.volume_factor * max(hourly, 1.0):
                findings.append(Finding(
                    "high_volume", cifer_id, None, "high",
                    f"{count} operations on key {cifer_id} in the last hour, against an hourly average of "
                    f"{hourly:.2f} over the {self.thresholds.trailing_days} days before", int(count), first, last))
        return findings

    async def _new_principals(self, session: AsyncSession, since: datetime.datetime,
                              now: datetime.datetime) -> list[Finding]:
        rows = (await session.execute(
            select(AuditRecord.cifer_id, AuditRecord.principal, func.sum(activity.OPERATIONS),
                   func.min(AuditRecord.at), func.max(AuditRecord.at))
            .join(Cifer, Cifer.id == AuditRecord.cifer_id)
            .where(AuditRecord.at >= since, AuditRecord.at <= now, AuditRecord.operation == "decrypt",
                   AuditRecord.outcome == "success", AuditRecord.principal != Cifer.owner_id)
            .group_by(AuditRecord.cifer_id, AuditRecord.principal))).all()
        findings = []
        for cifer_id, principal, count, first, last in rows:
            earlier = (await session.execute(
                select(AuditRecord.seq).where(AuditRecord.cifer_id == cifer_id, AuditRecord.principal == principal,
                                              AuditRecord.at < first).limit(1))).first()
            if earlier is None:
                findings.append(Finding(
                    "new_principal", cifer_id, principal, "low",
                    f"{principal} decrypted with key {cifer_id} for the first time", int(count), first, last))
        return findings

    async def _overdue(self, session: AsyncSession, since: datetime.datetime, now: datetime.datetime,
                       interval_days: int | None) -> list[Finding]:
        interval = datetime.timedelta(days=interval_days or self.thresholds.rotation_interval_days)
        rows = (await session.execute(
            select(Cifer.id, Cifer.next_rotation_at, CiferVersion.created_at, func.sum(activity.OPERATIONS),
                   func.min(AuditRecord.at), func.max(AuditRecord.at))
            .join(Cifer, Cifer.id == AuditRecord.cifer_id)
            .join(CiferVersion, (CiferVersion.cifer_id == Cifer.id) & (CiferVersion.version == Cifer.current_version))
            .where(AuditRecord.at >= since, AuditRecord.at <= now, Cifer.status == "active",
                   AuditRecord.operation.in_(activity.USAGE_OPERATIONS))
            .group_by(Cifer.id, Cifer.next_rotation_at, CiferVersion.created_at))).all()
        findings = []
        for cifer_id, scheduled, made, count, first, last in rows:
            due = scheduled if scheduled is not None else made + interval
            if last > due:
                findings.append(Finding(
                    "rotation_overdue", cifer_id, None, "medium",
                    f"key {cifer_id} was used after its rotation was due ({iso(due)})", int(count), first, last))
        return findings

    async def _store(self, finding: Finding, now: datetime.datetime) -> SecurityAlert | None:
        """A new alert with its event, or the open one updated; None unless new."""
        try:
            async with self._sessions.begin() as session:
                open_alert = (await session.execute(
                    select(SecurityAlert).where(SecurityAlert.open_key == finding.open_key))).scalar_one_or_none()
                if open_alert is not None:
                    open_alert.affected_operations = max(open_alert.affected_operations, finding.affected)
                    open_alert.last_at = max(open_alert.last_at, finding.last_at)
                    return None
                alert = SecurityAlert(
                    id="alt_" + secrets.token_hex(12), detector=finding.detector, type=SEED_TYPES[finding.detector],
                    severity=finding.severity, cifer_id=finding.cifer_id, principal=finding.principal,
                    description=finding.description, affected_operations=finding.affected,
                    first_at=finding.first_at, last_at=finding.last_at, created_at=now, open_key=finding.open_key)
                session.add(alert)
                owner = (await session.execute(select(Cifer.owner_id).where(Cifer.id == finding.cifer_id))).scalar_one()
                await events.emit(session, "security.alert", owner_id=owner,
                                  data={"cifer_id": finding.cifer_id, **alert_view(alert)})
            return alert
        except IntegrityError:  # another replica raised it meanwhile
            return None

    async def resolve(self, caller: Caller, alert_id: str, resolution: str) -> SecurityAlert:
        now = utcnow()
        async with self._sessions.begin() as session:
            alert = await session.get(SecurityAlert, alert_id, with_for_update=True)
            if alert is None:
                raise AlertNotFound(alert_id)
            if alert.resolved_at is None:
                alert.resolved_at, alert.resolved_by, alert.resolution, alert.open_key = (
                    now, caller.principal.id, resolution, None)
                await self._audit.append(session, caller.entry(
                    "alert.resolve", "success", cifer_id=alert.cifer_id,
                    details={"alert_id": alert.id, "detector": alert.detector, "resolution": resolution}))
            return alert

    async def of_key(self, cifer_id: str, start: datetime.datetime, end: datetime.datetime) -> list[SecurityAlert]:
        """The key's alerts raised in [start, end), and those still open, newest first."""
        async with self._sessions() as session:
            return list((await session.execute(
                select(SecurityAlert).where(SecurityAlert.cifer_id == cifer_id,
                                            ((SecurityAlert.created_at >= start) & (SecurityAlert.created_at < end))
                                            | SecurityAlert.open_key.is_not(None))
                .order_by(SecurityAlert.created_at.desc()))).scalars())

    async def run(self, stop: asyncio.Event, *, interval_s: float,
                  rotation_interval_days: Callable[[], Awaitable[int | None]]) -> None:
        """Scans until `stop` is set; `rotation_interval_days()` reads the configured rotation policy each time."""
        async def one_pass() -> None:
            await self.scan(rotation_interval_days=await rotation_interval_days())
        await periodic.every(interval_s, stop, one_pass, log=log, what="security alert scan")
