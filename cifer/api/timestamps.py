"""The seed's timestamp format, `2026-01-08T10:30:00Z` (UTC, whole seconds), written once."""

from __future__ import annotations

import datetime
import functools

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(moment: datetime.datetime | None) -> str | None:
    """An aware moment as the seed writes it; None stays None (a field that is null on the wire).
    Years before 1000 keep their four digits (strftime's %Y drops them on glibc)."""
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


@functools.lru_cache(maxsize=2)  # every response's `meta.timestamp`: one formatting per second
def unix_iso(unix_s: int) -> str:
    return iso(datetime.datetime.fromtimestamp(unix_s, datetime.UTC))


def parse_iso(text: str) -> datetime.datetime:
    """The inverse of `iso`: an aware UTC moment; ValueError for any other spelling."""
    return datetime.datetime.strptime(text, FORMAT).replace(tzinfo=datetime.UTC)
