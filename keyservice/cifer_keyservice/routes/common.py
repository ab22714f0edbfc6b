"""What every handler needs from a request: the caller and its identifiers, and times in the query."""

import datetime
import re
from collections.abc import Mapping

from aiohttp import web

from cifer.api.parsing import invalid
from cifer.api.response import REQUEST_ID
from cifer_keyservice.auth.principal import PRINCIPAL
from cifer_keyservice.cifers import Caller

MAX_USER_AGENT_CHARS = 255


def caller(request: web.Request) -> Caller:
    agent = "".join(c for c in request.headers.get("User-Agent", "")[:MAX_USER_AGENT_CHARS] if c.isprintable())
    return Caller(principal=request[PRINCIPAL], request_id=request[REQUEST_ID], source=request.remote or "",
                  user_agent=agent)


# ISO 8601 as RFC 3339 writes it: a date-time with its offset, or a date (midnight UTC).
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[Tt](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?", re.ASCII)


def query_time(query: Mapping[str, str], field: str) -> datetime.datetime | None:
    """An RFC 3339 date-time or date, as the OpenAPI document says, in UTC."""
    raw = query.get(field)
    if raw is None:
        return None
    refused = invalid(field, "must be an ISO 8601 time or date, e.g. 2026-01-08T10:30:00Z or 2026-01-08")
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


def period_end(query: Mapping[str, str], field: str) -> datetime.datetime | None:
    """An inclusive end: a date means the whole of that day, a time that instant (the bound
    returned is exclusive)."""
    moment = query_time(query, field)
    if moment is None:
        return None
    whole_day = "T" not in query[field].upper()
    try:
        return moment + (datetime.timedelta(days=1) if whole_day else datetime.timedelta(microseconds=1))
    except OverflowError:  # the last day Python holds
        return moment
