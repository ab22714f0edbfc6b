"""Time for the key service: aware UTC (the seed's format is `cifer.api.timestamps`)."""

from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
