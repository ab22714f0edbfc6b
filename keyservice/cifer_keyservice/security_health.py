"""Seed 001's security health (`GET /api/security/health`; docs/security-api.md, "Health"): measured
from the records of the last five minutes and from the service's own state, never constant.

- keyManagement: active and expired keys (counted now), the key service's mean time on a key
  release, and the share of releases that failed (a refusal is the policy working, not an error);
- encryption: operations per second and the share that failed (payload failures included; a
  refusal, again, is not an error), the mean release time, and the depth of the queue of releases waiting for their audit
  records (the group commit);
- compliance: whether the audit log's head is there and authentic and the chain verified at the
  watch's last check (chain_watch.py), whether no record outlives the
  configured retention, and a `REGULATION:detector` flag per regulation of a key with an open alert.

Status, by component: `unhealthy` when the database cannot be read (within 2 s) or the KEK fails its
round trip (keyManagement); an error rate of 50 % or more; `degraded` from 5 %, a mean release time
of a second or more, or a queue of 1,000 or more. compliance: `violation` when the audit log is not
healthy, `warning` with open alerts or records past retention. The whole is the worst component
(a compliance violation counts as unhealthy; a warning does not degrade it)."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.api.timestamps import iso
from cifer.dataprotection import compliance
from cifer_keyservice import activity
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.chain_watch import ChainWatch
from cifer_keyservice.db.models import AuditRecord, Cifer, SecurityAlert

WINDOW_S = 300
DB_TIMEOUT_S = 2.0
DEGRADED_ERROR_RATE, UNHEALTHY_ERROR_RATE = 5.0, 50.0  # percent
SLOW_RELEASE_MS = 1000.0
DEEP_QUEUE = 1000
_ORDER = ("healthy", "degraded", "unhealthy")
_SEVERITY = {"low": "info", "medium": "warning", "high": "error", "critical": "critical"}
_COMPONENT = {"repeated_failures": "key_management", "new_principal": "key_management", "high_volume": "encryption",
              "rotation_overdue": "compliance"}


def _worst(*statuses: str) -> str:
    return max(statuses, key=_ORDER.index)


def _by_rate(rate: float) -> str:
    return "unhealthy" if rate >= UNHEALTHY_ERROR_RATE else "degraded" if rate >= DEGRADED_ERROR_RATE else "healthy"


def _alert(kind: str, severity: str, component: str, message: str, now: datetime.datetime) -> dict[str, Any]:
    """A condition measured now, as a SystemAlert: its id names the condition, so it stays the same while it lasts."""
    return {"id": "sys_" + hashlib.sha256(kind.encode()).hexdigest()[:16], "severity": severity,
            "component": component, "message": message, "timestamp": iso(now), "resolved": False}


class SecurityHealth:
    def __init__(self, readers: async_sessionmaker, audit: AuditLog, watch: ChainWatch, *,
                 queue_depth: Callable[[], int], kek_check: Callable[[], Awaitable[None]]) -> None:
        self._readers = readers
        self._audit = audit
        self._watch = watch
        self._queue_depth = queue_depth
        self._kek_check = kek_check

    async def _measured(self, now: datetime.datetime, retention_days: int | None) -> dict[str, Any]:
        since = now - datetime.timedelta(seconds=WINDOW_S)
        recent = (AuditRecord.at >= since, AuditRecord.at <= now, AuditRecord.operation.in_(activity.USAGE_OPERATIONS))
        releases = (*recent, AuditRecord.operation == "decrypt")
        async with self._readers() as session:
            active, expired = (await session.execute(select(
                func.count().filter((Cifer.expires_at.is_(None)) | (Cifer.expires_at > now)),
                func.count().filter(Cifer.expires_at <= now)).where(Cifer.status == "active"))).one()
            operations, failures, refused = (await session.execute(select(
                func.coalesce(func.sum(activity.OPERATIONS), 0), func.coalesce(func.sum(activity.FAILURES), 0),
                func.coalesce(func.sum(activity.DENIED), 0)).where(*recent))).one()
            released, failed, timed_ms, timed = (await session.execute(select(
                func.count(), func.count().filter(AuditRecord.outcome == "failure"),
                func.sum(activity.DURATION_MS), func.count(activity.DURATION_MS)).where(*releases))).one()
            oldest = (await session.execute(select(func.min(AuditRecord.at)))).scalar()
            alerts = list((await session.execute(
                select(SecurityAlert, Cifer.metadata_).join(Cifer, Cifer.id == SecurityAlert.cifer_id)
                .where(SecurityAlert.open_key.is_not(None)).order_by(SecurityAlert.created_at.desc()))).all())
        return {"active": active, "expired": expired, "operations": int(operations), "failures": int(failures) - int(refused),
                "released": released, "failed": failed, "latency": activity.mean(timed_ms, timed),
                "head_ok": await self._head_authentic(),
                "retained": retention_days is None or oldest is None
                or oldest >= now - datetime.timedelta(days=retention_days),
                "alerts": alerts}

    async def _head_authentic(self) -> bool:
        """The head (and any prune anchor) authentic now, and the chain as the watch last found it."""
        verified, _problem = await self._audit.verify_records(self._readers, [])
        return verified and (self._watch.latest is None or self._watch.latest.intact)

    async def report(self, now: datetime.datetime, *, retention_days: int | None) -> dict[str, Any]:
        alerts: list[dict[str, Any]] = []
        try:
            found = await asyncio.wait_for(self._measured(now, retention_days), DB_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - any failure to read is the finding
            found = None
            alerts.append(_alert("database", "critical", "key_management",
                                 "the key service's database cannot be read", now))
        try:
            await asyncio.wait_for(self._kek_check(), DB_TIMEOUT_S)
            kek_ok = True
        except Exception:  # noqa: BLE001
            kek_ok = False
            alerts.append(_alert("kek", "critical", "key_management", "the KEK failed its round trip", now))
        depth = self._queue_depth()
        if found is None:
            key_status = "unhealthy"
            key_management = {"status": key_status, "activeKeys": 0, "expiredKeys": 0, "averageResponseTime": None,
                              "errorRate": 0.0}
            encryption = {"status": "unhealthy", "operationsPerSecond": 0.0, "averageLatency": None,
                          "errorRate": 0.0, "queueDepth": depth}
            compliance_part = {"status": "violation", "auditLogHealth": False, "retentionCompliance": False,
                               "regulatoryFlags": []}
        else:
            release_rate = activity.rate(found["failed"], found["released"])
            operation_rate = activity.rate(found["failures"], found["operations"])
            slow = found["latency"] is not None and found["latency"] >= SLOW_RELEASE_MS
            key_status = _worst(_by_rate(release_rate), "unhealthy" if not kek_ok else "healthy")
            encryption_status = _worst(_by_rate(operation_rate),
                                       "degraded" if slow or depth >= DEEP_QUEUE else "healthy")
            key_management = {"status": key_status, "activeKeys": found["active"], "expiredKeys": found["expired"],
                              "averageResponseTime": found["latency"], "errorRate": release_rate}
            encryption = {"status": encryption_status,
                          "operationsPerSecond": round(found["operations"] / WINDOW_S, 4),
                          "averageLatency": found["latency"], "errorRate": operation_rate, "queueDepth": depth}
            flags = sorted({f"{name}:{alert.detector}" for alert, metadata in found["alerts"]
                            for name in compliance.regulations((metadata or {}).get("regulatoryRequirement"))})
            compliance_part = {
                "status": "violation" if not found["head_ok"] else
                "warning" if found["alerts"] or not found["retained"] else "compliant",
                "auditLogHealth": found["head_ok"], "retentionCompliance": found["retained"], "regulatoryFlags": flags,
                "auditChainVerifiedAt": iso(self._watch.latest.full_pass_at) if self._watch.latest else None}
            if not found["head_ok"]:
                alerts.append(_alert("audit", "critical", "audit", "the audit log's head is missing or altered", now))
            if not found["retained"]:
                alerts.append(_alert("retention", "warning", "compliance",
                                     "audit records older than the configured retention remain", now))
            if depth >= DEEP_QUEUE:
                alerts.append(_alert("queue", "warning", "encryption", f"{depth} key releases wait for the database",
                                     now))
            for rate, component in ((release_rate, "key_management"), (operation_rate, "encryption")):
                if rate >= DEGRADED_ERROR_RATE:
                    alerts.append(_alert(f"errors:{component}", "error", component,
                                         f"{rate} % of operations failed in the last {WINDOW_S // 60} minutes", now))
            alerts += [{"id": alert.id, "severity": _SEVERITY[alert.severity], "component": _COMPONENT[alert.detector],
                        "message": alert.description, "timestamp": iso(alert.created_at), "resolved": False}
                       for alert, _metadata in found["alerts"]]
        overall = _worst(key_management["status"], encryption["status"],
                         "unhealthy" if compliance_part["status"] == "violation" else "healthy")
        return {"status": overall, "timestamp": iso(now), "keyManagement": key_management, "encryption": encryption,
                "compliance": compliance_part, "alerts": alerts}
