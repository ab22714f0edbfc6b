"""Seed 001's security reports (docs/security-api.md, "Reports"): generated from the records, in
JSON inline, or as a CSV or PDF file kept behind a signed, expiring download URL."""

from __future__ import annotations

import asyncio
import datetime
import re
from typing import Any

from aiohttp import web

from cifer import extras
from cifer.api import parsing, response
from cifer.api import security_monitoring_schemas as mon
from cifer.api.endpoints import SECURITY_DOWNLOAD_REPORT, SECURITY_GENERATE_REPORT, route
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.parsing import invalid, json_object, refuse_unknown
from cifer.dataprotection.compliance import REGULATIONS
from cifer.dataprotection.keytypes import DATA_TYPES
from cifer_keyservice.clock import utcnow
from cifer_keyservice.reports import figures as report_figures
from cifer_keyservice.reports.files import CONTENT_TYPES, MAX_REPORT_BYTES, BadSignature, Expired, new_report_id
from cifer_keyservice.reports.findings import report_body
from cifer_keyservice.routes.common import caller, period_end, query_time
from cifer_keyservice.state import ALERTS, CHAIN_WATCH, REPORT_FILES, SECURITY_CONFIG, SESSIONS, SETTINGS

routes = web.RouteTableDef()
MAX_PERIOD = datetime.timedelta(days=3660)
EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)  # no CIFER record is older; earlier dates only overflow
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?", re.ASCII)


def _flag(body: dict[str, Any], field: str) -> bool:
    value = body.get(field, True)
    if not isinstance(value, bool):
        raise invalid(field, "must be true or false")
    return value


def _period(body: dict[str, Any]) -> tuple[datetime.datetime, datetime.datetime]:
    period = body.get("period")
    if not isinstance(period, dict) or not all(isinstance(period.get(f), str) for f in ("start", "end")):
        raise invalid("period", "must be {start, end}, ISO 8601 times or dates")
    refuse_unknown(period, {"start", "end"}, "period.")
    try:
        start, end = query_time(period, "start"), period_end(period, "end")
    except ApiError:
        raise invalid("period", "start and end must be ISO 8601 times or dates, e.g. 2026-01-08") from None
    if end <= start or end - start > MAX_PERIOD or start < EARLIEST:
        raise invalid("period", "must end after it starts, within ten years, and not start before 1970")
    return start, end


def _scope(body: dict[str, Any]) -> report_figures.Scope:
    scope = body.get("scope", {})
    if not isinstance(scope, dict):
        raise invalid("scope", "must be an object")
    refuse_unknown(scope, {"userIds", "keyIds", "dataTypes", "regulations"}, "scope.")
    lists = {}
    for field in ("userIds", "keyIds", "dataTypes", "regulations"):
        items = scope.get(field, [])
        if not isinstance(items, list) or len(items) > mon.MAX_SCOPE_ITEMS:
            raise invalid(f"scope.{field}", f"must be a list of at most {mon.MAX_SCOPE_ITEMS}")
        lists[field] = items
    for field, known in (("dataTypes", DATA_TYPES), ("regulations", REGULATIONS)):
        if not all(isinstance(item, str) and item in known for item in lists[field]):
            raise invalid(f"scope.{field}", f"must name some of {', '.join(known)}")
    return report_figures.Scope(
        user_ids=tuple(dict.fromkeys(parsing.user_id(u) for u in lists["userIds"])),
        key_ids=tuple(dict.fromkeys(parsing.cifer_id(k, "scope.keyIds") for k in lists["keyIds"])),
        data_types=tuple(dict.fromkeys(lists["dataTypes"])), regulations=tuple(dict.fromkeys(lists["regulations"])))


def _rendered(file_format: str, body: dict[str, Any], found: report_figures.Figures, charts: bool) -> bytes:
    """The file, rendered off the event loop's thread (a PDF of a thousand keys takes seconds)."""
    rows = [report_figures.key_row(key) for key in found.keys]
    if file_format == "csv":
        from cifer_keyservice.reports.render_csv import render_csv
        return render_csv(body, rows)
    from cifer_keyservice.reports.render_pdf import render_pdf
    return render_pdf(body, rows, found.series if charts else {})


def _download_base(request: web.Request) -> str:
    """Where the caller reached the API: a sidecar says so in X-Forwarded-Host and -Proto (only the
    caller's own answer can name another host). A host that is not a plain host[:port] gives a
    path-only URL, to be resolved against the API's address."""
    host = request.headers.get("X-Forwarded-Host", request.host or "")
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    if not _HOST.fullmatch(host):
        return ""
    return f"{'https' if scheme == 'https' else 'http'}://{host}"


@route(routes, SECURITY_GENERATE_REPORT)
async def generate(request: web.Request) -> web.Response:
    body = await json_object(request, required=True)
    refuse_unknown(body, {"reportType", "period", "scope", "format", "includeMetrics", "includeRecommendations"})
    report_type = body.get("reportType")
    if report_type not in mon.REPORT_TYPES:
        raise invalid("reportType", f"must be one of {', '.join(mon.REPORT_TYPES)}")
    file_format = body.get("format")
    if file_format not in mon.REPORT_FORMATS:
        raise invalid("format", f"must be one of {', '.join(mon.REPORT_FORMATS)}")
    if file_format == "pdf":
        try:
            extras.require("reportlab", extra="reports", feature="a PDF report")
        except extras.MissingExtra as exc:
            raise invalid("format", str(exc)) from None
    start, end = _period(body)
    scope = _scope(body)
    metrics, advice = _flag(body, "includeMetrics"), _flag(body, "includeRecommendations")
    now = utcnow()
    config = await request.app[SECURITY_CONFIG].current()
    await request.app[ALERTS].scan_fresh(now, rotation_interval_days=config.rotation_interval_days)
    found = await report_figures.gather(
        request.app[SESSIONS], await request.app[CHAIN_WATCH].check(), start=start, end=end, scope=scope, now=now,
        interval_days=config.rotation_interval_days, with_series=file_format == "pdf" and metrics)
    report_id = new_report_id()
    expires_at = now + datetime.timedelta(seconds=request.app[SETTINGS].report_ttl_s)
    answer = report_body(found, report_id=report_id, report_type=report_type, generated_at=now,
                         expires_at=expires_at, include_recommendations=advice, scope=scope.as_json())
    if file_format != "json":
        rendered = await asyncio.get_running_loop().run_in_executor(
            None, _rendered, file_format, answer, found, metrics)
        if len(rendered) > MAX_REPORT_BYTES:
            raise invalid("scope", "the report is too large: narrow its scope or period")
        files = request.app[REPORT_FILES]
        await files.keep(report_id=report_id, owner_id=caller(request).principal.id, report_type=report_type,
                         file_format=file_format, body=rendered, created_at=now, expires_at=expires_at)
        answer["downloadUrl"] = _download_base(request) + files.path(report_id, expires_at)
    return response.ok(request, answer)


@route(routes, SECURITY_DOWNLOAD_REPORT)
async def download(request: web.Request) -> web.Response:
    report_id = request.match_info["reportId"]
    try:
        report = await request.app[REPORT_FILES].fetch(
            report_id, request.query.get("expires", ""), request.query.get("signature", ""), utcnow())
    except BadSignature:
        raise ApiError(ErrorCode.FORBIDDEN, "this download URL's signature does not verify") from None
    except Expired:
        raise ApiError(ErrorCode.FORBIDDEN, "this download URL has expired; generate the report again") from None
    if report is None:
        raise ApiError(ErrorCode.NOT_FOUND, "this report is no longer kept")
    return web.Response(body=report.body, headers={
        "Content-Type": CONTENT_TYPES[report.format], "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="{report.id}.{report.format}"'})
