"""GET /v1/audit: the audit query of the data-protection seed (time range, cifer id,
operation, principal, outcome; page and limit), for the `admin` scope."""

from __future__ import annotations

import datetime
import re

from aiohttp import web
from sqlalchemy import func, select

from cifer.api import response
from cifer_keyservice import requests as parse
from cifer_keyservice.clock import iso
from cifer_keyservice.db.models import AuditRecord
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import SESSIONS

routes = web.RouteTableDef()
MAX_LIMIT = 500
OUTCOMES = ("success", "denied", "failure")
# ISO 8601 as RFC 3339 writes it: a date-time with its offset, or a date (midnight UTC).
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[Tt](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?", re.ASCII)


def _date(query, field: str) -> datetime.datetime | None:
    """An RFC 3339 date-time or date, as the OpenAPI document says, in UTC."""
    raw = query.get(field)
    if raw is None:
        return None
    refused = parse.invalid(field, "must be an ISO 8601 time or date, e.g. 2026-01-08T10:30:00Z or 2026-01-08")
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise refused
    day, hour_minute, second, fraction, offset = match.groups()
    if hour_minute is None:
        hour_minute, second, offset = "00:00", "00", "Z"
    second = "59" if second == "60" else second  # a leap second, which Python cannot hold
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.datetime.fromisoformat(f"{day}T{hour_minute}:{second}{fraction or ''}{offset}")
    except ValueError:  # no such day, hour or offset
        raise refused from None
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:  # a moment in year 1 or 9999 whose UTC falls outside Python's years
        return (datetime.datetime.min if moment.year == 1 else datetime.datetime.max).replace(tzinfo=datetime.UTC)


def _positive(query, field: str, default: int, high: int) -> int:
    try:
        value = int(query.get(field, str(default)))
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise parse.invalid(field, f"must be an integer from 1 to {high}")
    return value


def _entry(record: AuditRecord) -> dict:
    return {
        "id": record.seq, "timestamp": iso(record.at), "operation": record.operation,
        "principal": record.principal, "cifer_id": record.cifer_id, "key_version": record.key_version,
        "outcome": record.outcome, "request_id": record.request_id, "source": record.source,
        "details": record.details, "hash": record.hash,
    }


@routes.get("/v1/audit")
async def query_audit(request: web.Request) -> web.Response:
    caller(request).principal.require("admin")
    query = request.query
    unknown = set(query) - {"start_date", "end_date", "cifer_id", "operation", "principal", "outcome", "page", "limit"}
    if unknown:
        raise parse.invalid(sorted(unknown)[0], "unknown query parameter")
    conditions = []
    start, end = _date(query, "start_date"), _date(query, "end_date")
    if start is not None:
        conditions.append(AuditRecord.at >= start)
    if end is not None:
        conditions.append(AuditRecord.at < end)
    if "cifer_id" in query:
        conditions.append(AuditRecord.cifer_id == parse.cifer_id(query["cifer_id"]))
    for field, column in (("operation", AuditRecord.operation), ("principal", AuditRecord.principal)):
        if field in query:
            if not 0 < len(query[field]) <= 255:
                raise parse.invalid(field, "must be 1 to 255 characters")
            conditions.append(column == query[field])
    if "outcome" in query:
        if query["outcome"] not in OUTCOMES:
            raise parse.invalid("outcome", f"must be one of {', '.join(OUTCOMES)}")
        conditions.append(AuditRecord.outcome == query["outcome"])
    page, limit = _positive(query, "page", 1, 1_000_000), _positive(query, "limit", 50, MAX_LIMIT)
    async with request.app[SESSIONS]() as session:
        total = (await session.execute(select(func.count()).select_from(AuditRecord).where(*conditions))).scalar_one()
        by_operation = dict((await session.execute(
            select(AuditRecord.operation, func.count()).where(*conditions).group_by(AuditRecord.operation)
        )).all())
        by_outcome = dict((await session.execute(
            select(AuditRecord.outcome, func.count()).where(*conditions).group_by(AuditRecord.outcome)
        )).all())
        rows = (await session.execute(
            select(AuditRecord).where(*conditions).order_by(AuditRecord.seq.desc()).offset((page - 1) * limit).limit(limit)
        )).scalars().all()
    return response.ok(request, {
        "audit_logs": [_entry(r) for r in rows],
        "pagination": {"page": page, "limit": limit, "total": total, "total_pages": (total + limit - 1) // limit},
        "summary": {"total_operations": total, "operation_breakdown": by_operation,
                    "outcome_breakdown": {outcome: by_outcome.get(outcome, 0) for outcome in OUTCOMES}},
    })
