"""A key's usage over a period, in buckets of an hour, a day, a week or a month (seed 001's
`GET /api/security/keys/{keyId}/usage`; docs/security-api.md, "Monitoring").

The database groups the key's records by UTC hour (for hourly buckets) or day (for the others),
with `activity`'s sums; the days are then folded into ISO weeks (from Monday) or calendar
months. The totals are the sums of the buckets, so they always agree. A bucket is labelled by
its start, which for the first may lie before the period's start: it counts only what fell
inside the period."""

from __future__ import annotations

import dataclasses
import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice import activity
from cifer_keyservice.db.models import AuditRecord

PERIODS = ("hour", "day", "week", "month")
DEFAULT_BUCKETS = {"hour": 24, "day": 30, "week": 12, "month": 12}  # a period not given ends now and spans these
MAX_BUCKETS = 2232  # 93 days of hours, about 6 years of days


def floor(moment: datetime.datetime, period: str) -> datetime.datetime:
    """The start of the bucket holding `moment`."""
    moment = moment.astimezone(datetime.UTC)
    if period == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - datetime.timedelta(days=day.weekday())
    return day.replace(day=1)


def following(start: datetime.datetime, period: str) -> datetime.datetime:
    """The start of the bucket after the one starting at `start`."""
    if period == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + {"hour": datetime.timedelta(hours=1), "day": datetime.timedelta(days=1),
                    "week": datetime.timedelta(weeks=1)}[period]


def default_start(end: datetime.datetime, period: str) -> datetime.datetime:
    start = floor(end, period)
    for _ in range(DEFAULT_BUCKETS[period] - 1):
        start = floor(start - datetime.timedelta(seconds=1), period)
    return start


def clamped_start(start: datetime.datetime, end: datetime.datetime, period: str) -> datetime.datetime:
    """`start`, or, when [start, end) needs more than MAX_BUCKETS buckets, the start of the latest
    MAX_BUCKETS buckets before `end`."""
    earliest = floor(end - datetime.timedelta(microseconds=1), period)
    for _ in range(MAX_BUCKETS - 1):
        if earliest <= start:
            return start
        earliest = floor(earliest - datetime.timedelta(microseconds=1), period)
    return max(start, earliest)


def bucket_starts(start: datetime.datetime, end: datetime.datetime, period: str) -> list[datetime.datetime]:
    """Every bucket's start from the one holding `start` to the one holding the last instant before `end`."""
    starts, moment = [], floor(start, period)
    while moment < end:
        starts.append(moment)
        moment = following(moment, period)
    return starts


@dataclasses.dataclass
class Bucket:
    start: datetime.datetime
    encrypts: int = 0
    decrypts: int = 0
    failures: int = 0
    denied: int = 0
    bytes: int = 0
    duration_ms: float = 0.0
    timed: int = 0  # operations whose duration was measured

    @property
    def operations(self) -> int:
        return self.encrypts + self.decrypts

    def add(self, other: Bucket) -> None:
        for field in ("encrypts", "decrypts", "failures", "denied", "bytes", "duration_ms", "timed"):
            setattr(self, field, getattr(self, field) + getattr(other, field))


@dataclasses.dataclass(frozen=True)
class KeyUsage:
    start: datetime.datetime
    end: datetime.datetime
    period: str
    buckets: list[Bucket]
    total: Bucket
    unique_principals: int


async def key_usage(readers: async_sessionmaker, cifer_id: str, *, period: str, start: datetime.datetime,
                    end: datetime.datetime) -> KeyUsage:
    """The key's encrypts and decrypts in [start, end), `start` clamped to MAX_BUCKETS buckets."""
    start = clamped_start(start, end, period)
    starts = bucket_starts(start, end, period)
    unit = activity.HOUR if period == "hour" else activity.DAY
    bucket = activity.bucket_of(unit, activity.dialect_of(readers))
    where = (AuditRecord.cifer_id == cifer_id, AuditRecord.at >= start, AuditRecord.at < end,
             AuditRecord.operation.in_(activity.USAGE_OPERATIONS))
    async with readers() as session:
        rows = (await session.execute(
            select(bucket, AuditRecord.operation, func.sum(activity.OPERATIONS), func.sum(activity.FAILURES),
                   func.sum(activity.DENIED), func.sum(activity.BYTES), func.sum(activity.DURATION_MS),
                   func.count(activity.DURATION_MS))
            .where(*where).group_by(bucket, AuditRecord.operation))).all()
        principals = (await session.execute(
            select(func.count(func.distinct(AuditRecord.principal))).where(*where))).scalar_one()
    buckets = {moment: Bucket(moment) for moment in starts}
    for label, operation, operations, failures, denied, sealed, duration, timed in rows:
        row = Bucket(activity.bucket_start(label), failures=int(failures or 0), denied=int(denied or 0),
                     bytes=int(sealed or 0), duration_ms=float(duration or 0.0), timed=int(timed or 0))
        if operation == "encrypt":
            row.encrypts = int(operations or 0)
        else:
            row.decrypts = int(operations or 0)
        buckets[floor(row.start, period)].add(row)
    total = Bucket(starts[0] if starts else start)
    for each in buckets.values():
        total.add(each)
    return KeyUsage(start, end, period, list(buckets.values()), total, int(principals))
