"""Time for the key service: aware UTC (the seed's format is `cifer.api.timestamps`).

Every part of the service reads the time here, so a test moves the whole service through time
by setting `OFFSET` (monkeypatch): records, windows, alerts and expiries all follow it."""

from __future__ import annotations

import datetime

OFFSET = datetime.timedelta(0)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + OFFSET
