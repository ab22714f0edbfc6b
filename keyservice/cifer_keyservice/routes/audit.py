"""GET /v1/audit: the audit query of the data-protection seed (time range, cifer id,
operation, principal, outcome; page and limit). An admin reads every record; a principal with
`cifer:read` reads the records of the cifers it owns (a filter naming another's cifer finds nothing)."""

from __future__ import annotations

from aiohttp import web

from cifer.api import response
from cifer.api.endpoints import QUERY_AUDIT, route
from cifer.api.parsing import cifer_id, invalid, positive_int
from cifer.api.schemas import MAX_AUDIT_PAGE_LIMIT
from cifer.api.timestamps import iso
from cifer_keyservice.audit_query import OUTCOMES, AuditEntry, AuditFilter, AuditQuery
from cifer_keyservice.auth.principal import PRINCIPAL
from cifer_keyservice.routes.common import query_time
from cifer_keyservice.state import SESSIONS

routes = web.RouteTableDef()


def _entry(entry: AuditEntry) -> dict:
    return {
        "id": entry.seq, "timestamp": iso(entry.at), "operation": entry.operation,
        "principal": entry.principal, "cifer_id": entry.cifer_id, "key_version": entry.key_version,
        "outcome": entry.outcome, "request_id": entry.request_id, "source": entry.source,
        "details": entry.details, "hash": entry.hash,
    }


@route(routes, QUERY_AUDIT)
async def query_audit(request: web.Request) -> web.Response:
    query, caller = request.query, request[PRINCIPAL]
    unknown = set(query) - {"start_date", "end_date", "cifer_id", "operation", "principal", "outcome", "page", "limit"}
    if unknown:
        raise invalid(min(unknown), "unknown query parameter")
    start, end = query_time(query, "start_date"), query_time(query, "end_date")
    wanted = cifer_id(query["cifer_id"]) if "cifer_id" in query else None
    for field in ("operation", "principal"):
        if field in query and not 0 < len(query[field]) <= 255:
            raise invalid(field, "must be 1 to 255 characters")
    if "outcome" in query and query["outcome"] not in OUTCOMES:
        raise invalid("outcome", f"must be one of {', '.join(OUTCOMES)}")
    page = positive_int(query, "page", default=1, high=1_000_000)
    limit = positive_int(query, "limit", default=50, high=MAX_AUDIT_PAGE_LIMIT)
    where = AuditFilter(start=start, end=end, cifer_id=wanted, operation=query.get("operation"),
                        principal=query.get("principal"), outcome=query.get("outcome"),
                        owner=None if caller.is_admin else caller.id)
    found = await AuditQuery(request.app[SESSIONS]).page(where, page=page, limit=limit)
    return response.ok(request, {
        "audit_logs": [_entry(entry) for entry in found.entries],
        "pagination": {"page": page, "limit": limit, "total": found.total,
                       "total_pages": (found.total + limit - 1) // limit},
        "summary": {"total_operations": found.total, "operation_breakdown": found.by_operation,
                    "outcome_breakdown": found.by_outcome},
    })
