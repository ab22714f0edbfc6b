"""Seed 001's monitoring (docs/security-api.md, "Monitoring"): the encryption audit, a key's usage,
the detectors' alerts (listed and resolved), and the security health."""

from __future__ import annotations

import asyncio
import datetime
import re
from typing import Any

from aiohttp import web
from sqlalchemy import select

from cifer.api import parsing, response
from cifer.api import security_monitoring_schemas as mon
from cifer.api.endpoints import (SECURITY_ALERTS, SECURITY_AUDIT, SECURITY_HEALTH, SECURITY_KEY_USAGE,
                                 SECURITY_RESOLVE_ALERT, route)
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.parsing import invalid, json_object, positive_int, refuse_unknown, string
from cifer.api.timestamps import iso
from cifer.dataprotection import compliance
from cifer.dataprotection.keytypes import DATA_TYPES
from cifer_keyservice import activity, key_usage
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, SecurityAlert
from cifer_keyservice.encryption_audit import COMPLIANCE, QUERY_OPERATIONS, EncryptionAudit, EncryptionAuditFilter
from cifer_keyservice.routes.common import caller, period_end, query_time
from cifer_keyservice.security_alerts import AlertNotFound, alert_view
from cifer_keyservice.security_health import DB_TIMEOUT_S
from cifer_keyservice.state import ALERTS, AUDIT_LOG, HEALTH, SECURITY_CONFIG, SESSIONS

routes = web.RouteTableDef()
_ALERT_ID = re.compile(r"alt_[0-9a-f]{24}", re.ASCII)


def one_of(query, field: str, allowed, default: str | None = None) -> str | None:
    value = query.get(field, default)
    if value is not None and value not in allowed:
        raise invalid(field, f"must be one of {', '.join(allowed)}")
    return value


def key_status(key: Cifer, now: datetime.datetime) -> str:
    if key.status == "revoked":
        return "revoked"
    return "expired" if key.expires_at is not None and key.expires_at <= now else "active"


async def key_of(request: web.Request, key_id: str) -> Cifer:
    async with request.app[SESSIONS]() as session:
        key = await session.get(Cifer, key_id)
    if key is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no key with this id", {"keyId": key_id})
    return key


@route(routes, SECURITY_AUDIT)
async def audit(request: web.Request) -> web.Response:
    query = request.query
    refuse_unknown(query, {"userId", "keyId", "operation", "startDate", "endDate", "dataType", "compliance", "page",
                           "limit"})
    start, end = query_time(query, "startDate"), period_end(query, "endDate")
    if start is None or end is None:
        raise invalid("startDate" if start is None else "endDate", "is required (ISO 8601)")
    if end <= start:
        raise invalid("endDate", "must not be before startDate")
    where = EncryptionAuditFilter(
        start=start, end=end, user_id=parsing.user_id(query["userId"]) if "userId" in query else None,
        key_id=parsing.cifer_id(query["keyId"], "keyId") if "keyId" in query else None,
        operation=one_of(query, "operation", QUERY_OPERATIONS), data_type=one_of(query, "dataType", DATA_TYPES),
        regulation=one_of(query, "compliance", COMPLIANCE))
    page = positive_int(query, "page", default=1, high=1_000_000)
    limit = positive_int(query, "limit", default=50, high=mon.MAX_AUDIT_LIMIT)
    config = await request.app[SECURITY_CONFIG].current()
    found = await EncryptionAudit(request.app[SESSIONS], request.app[AUDIT_LOG]).page(
        where, page=page, limit=limit, retention=config.retention_period)
    return response.ok(request, found)


def _regulatory_flags(key: Cifer, alerts: list[SecurityAlert]) -> list[str]:
    """`REGULATION:detector` for each regulation the key is under and each open alert about it."""
    regulations = compliance.regulations(key.metadata_.get("regulatoryRequirement"))
    return sorted({f"{name}:{alert.detector}" for alert in alerts if alert.resolved_at is None for name in regulations})


@route(routes, SECURITY_KEY_USAGE)
async def usage(request: web.Request) -> web.Response:
    key_id = parsing.cifer_id(request.match_info["keyId"], "keyId")
    query = request.query
    refuse_unknown(query, {"period", "startDate", "endDate"})
    period = one_of(query, "period", mon.PERIODS, default="day")
    now = utcnow()
    end = period_end(query, "endDate") or now
    start = query_time(query, "startDate") or key_usage.default_start(end, period)
    if end <= start:
        raise invalid("endDate", "must not be before startDate")
    key = await key_of(request, key_id)
    config = await request.app[SECURITY_CONFIG].current()
    await request.app[ALERTS].scan_fresh(now, rotation_interval_days=config.rotation_interval_days)
    found = await key_usage.key_usage(request.app[SESSIONS], key_id, period=period, start=start, end=end)
    start = found.start
    alerts = await request.app[ALERTS].of_key(key_id, start, end)
    total = found.total
    return response.ok(request, {
        "keyId": key_id, "keyStatus": key_status(key, now),
        "usageStatistics": {
            "period": period, "startDate": iso(start), "endDate": iso(end),
            "totalOperations": total.operations, "encryptOperations": total.encrypts,
            "decryptOperations": total.decrypts, "uniqueUsers": found.unique_principals, "dataVolume": total.bytes,
            "averageOperationTime": activity.mean(total.duration_ms, total.timed),
            "errorRate": activity.rate(total.failures, total.operations)},
        "usageHistory": [_point(bucket) for bucket in found.buckets],
        "complianceMetrics": {
            "unauthorizedAccess": total.denied, "failedOperations": total.failures,
            "auditViolations": sum(1 for alert in alerts if alert.detector == "rotation_overdue"),
            "regulatoryFlags": _regulatory_flags(key, alerts)},
        "securityAlerts": [alert_view(alert) for alert in alerts],
    })


def _point(bucket: key_usage.Bucket) -> dict[str, Any]:
    return {"timestamp": iso(bucket.start), "operations": bucket.operations, "dataVolume": bucket.bytes,
            "averageLatency": activity.mean(bucket.duration_ms, bucket.timed),
            "errorRate": activity.rate(bucket.failures, bucket.operations),
            "encryptOperations": bucket.encrypts, "decryptOperations": bucket.decrypts,
            "failedOperations": bucket.failures}


@route(routes, SECURITY_ALERTS)
async def alerts(request: web.Request) -> web.Response:
    query = request.query
    refuse_unknown(query, {"keyId", "status", "limit"})
    status = one_of(query, "status", ("open", "resolved", "all"), default="open")
    limit = positive_int(query, "limit", default=50, high=200)
    config = await request.app[SECURITY_CONFIG].current()
    await request.app[ALERTS].scan_fresh(rotation_interval_days=config.rotation_interval_days)
    wanted = select(SecurityAlert).order_by(SecurityAlert.created_at.desc(), SecurityAlert.id).limit(limit)
    if "keyId" in query:
        wanted = wanted.where(SecurityAlert.cifer_id == parsing.cifer_id(query["keyId"], "keyId"))
    if status != "all":
        wanted = wanted.where(SecurityAlert.resolved_at.is_(None) if status == "open"
                              else SecurityAlert.resolved_at.is_not(None))
    async with request.app[SESSIONS]() as session:
        found = (await session.execute(wanted)).scalars().all()
    return response.ok(request, {"alerts": [alert_view(alert) for alert in found]})


@route(routes, SECURITY_RESOLVE_ALERT)
async def resolve(request: web.Request) -> web.Response:
    alert_id = request.match_info["alertId"]
    body = await json_object(request, required=True)
    refuse_unknown(body, {"resolution"})
    resolution = string(body, "resolution", max_chars=mon.MAX_RESOLUTION_CHARS).strip()
    if not resolution:
        raise invalid("resolution", "must say what was found and done")
    try:
        if not _ALERT_ID.fullmatch(alert_id):
            raise AlertNotFound(alert_id)
        alert = await request.app[ALERTS].resolve(caller(request), alert_id, resolution)
    except AlertNotFound:
        raise ApiError(ErrorCode.NOT_FOUND, "no alert with this id", {"alertId": alert_id[:64]}) from None
    return response.ok(request, alert_view(alert))


@route(routes, SECURITY_HEALTH)
async def health(request: web.Request) -> web.Response:
    """Measured on every call; a database that cannot be read is the finding, not an error answer."""
    now, store = utcnow(), request.app[SECURITY_CONFIG]
    try:
        await asyncio.wait_for(request.app[ALERTS].scan_fresh(now, rotation_interval_days=store.cached.rotation_interval_days),
                               DB_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - the report below says what is wrong
        pass
    return response.ok(request, await request.app[HEALTH].report(now, retention_days=store.cached.retention_days))
