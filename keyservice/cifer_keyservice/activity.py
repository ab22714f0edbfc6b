"""A key's activity as the audit log holds it: seed 001's usage records (docs/security-api.md,
"Monitoring").

One record may stand for many operations: a sidecar reports its local encryptions aggregated,
one `encrypt` record per cifer and window with `details.count` (usage.py), and the payloads
that failed authentication after their key was released as one `decrypt`/`failure` record with
`stage: payload` and a count. Such a failure is not a further operation: the release before it
was counted as a successful decrypt, and the report turns that many successes into failures.
So, for every record:

- `OPERATIONS`: how many operations it adds (`details.count`, else 1; a payload report 0);
- `FAILURES`: how many operations it marks failed (`count` or 1, where its outcome is not `success`);
- `DENIED`: how many were refused for want of authority (outcome `denied`);
- `BYTES`: the bytes sealed (encrypt records' `details.bytes`); the key service sees only the
  header of what it opens, so decrypts add none;
- `DURATION_MS`: the key service's own time on the request (decrypt records' `details.duration_ms`),
  None where it was not measured.

Time buckets are computed in SQL, as text (`YYYY-MM-DD HH` or `YYYY-MM-DD`, UTC) on both
databases, so a period of a million records is grouped by the database, not in Python."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.sql import ColumnElement

from cifer_keyservice.db.json_text import json_text
from cifer_keyservice.db.models import AuditRecord

USAGE_OPERATIONS = ("encrypt", "decrypt")  # what a key's usage counts; lifecycle records are in the audit query
_DETAILS = AuditRecord.details
_COUNT = func.coalesce(_DETAILS["count"].as_integer(), 1)
_PAYLOAD = _DETAILS["stage"].as_string() == "payload"

OPERATIONS: ColumnElement[int] = case((_PAYLOAD, 0), else_=_COUNT)  # NULL (no stage) is not true: counted
FAILURES: ColumnElement[int] = case((AuditRecord.outcome != "success", _COUNT), else_=0)
DENIED: ColumnElement[int] = case((AuditRecord.outcome == "denied", _COUNT), else_=0)
BYTES: ColumnElement[int] = case((AuditRecord.operation == "encrypt", func.coalesce(_DETAILS["bytes"].as_integer(), 0)),
                                 else_=0)
DURATION_MS: ColumnElement[float] = _DETAILS["duration_ms"].as_float()
USER_ID: ColumnElement[str] = json_text(_DETAILS, "user_id")  # indexed (migration 0008): the same expression
DATA_TYPE: ColumnElement[str] = json_text(_DETAILS, "data_type")

HOUR, DAY = "hour", "day"
_WIDTH = {HOUR: 13, DAY: 10}  # characters of `YYYY-MM-DD HH` and `YYYY-MM-DD`
_PG_FORMAT = {HOUR: "YYYY-MM-DD HH24", DAY: "YYYY-MM-DD"}


def bucket_of(unit: str, dialect: str) -> ColumnElement[str]:
    """The UTC hour or day of a record's time, as text, in the database's own SQL. SQLite holds
    times as UTC text (`YYYY-MM-DD HH:MM:SS.ffffff`, written by models.UtcDateTime), so the bucket
    is its prefix; PostgreSQL formats the timestamp at UTC."""
    if dialect == "sqlite":
        return func.substr(AuditRecord.at, 1, _WIDTH[unit])
    return func.to_char(func.timezone("UTC", AuditRecord.at), _PG_FORMAT[unit])


def bucket_start(text: str) -> datetime.datetime:
    """The moment a bucket of `bucket_of` begins."""
    fmt = "%Y-%m-%d %H" if len(text) == _WIDTH[HOUR] else "%Y-%m-%d"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)


def dialect_of(sessions: Any) -> str:
    """The database behind an async_sessionmaker: `sqlite` or `postgresql`."""
    return sessions.kw["bind"].dialect.name


def rate(part: float, whole: float) -> float:
    """`part` as a percentage of `whole`, to two decimals; 0 of nothing is 0."""
    return round(100.0 * part / whole, 2) if whole else 0.0


def mean(total: float | None, count: int) -> float | None:
    """An average in milliseconds to three decimals, or None when nothing was measured."""
    return round(total / count, 3) if count and total is not None else None
