"""The running service's own watch over its audit chain (docs/audit.md, "The service's watch"):
what a report's `auditChainIntact` and the health's `auditLogHealth` say.

Verifying a whole log costs about 30 µs a record (a million records: half a minute), too much for
every report. So the watch verifies the whole log once (in the background after start, and again
every `full_every_s`, a day), remembers the last record it verified (seq and hash), and at each
check verifies only the records appended since, chaining on that hash. A broken chain stays
broken: once a check fails, every answer says so until a full pass succeeds.

What this does not see at once: a record older than the last verified one altered after it was
verified; the next full pass finds it. `cifer keyservice audit verify` always reads the whole log."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging

from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.audit import AuditLog
from cifer_keyservice.clock import utcnow

log = logging.getLogger("cifer.audit")


@dataclasses.dataclass(frozen=True)
class Verdict:
    intact: bool
    problem: str
    full_pass_at: datetime.datetime | None  # when the whole log last verified


class ChainWatch:
    def __init__(self, audit: AuditLog, readers: async_sessionmaker, *, full_every_s: float = 86400.0) -> None:
        self._audit = audit
        self._readers = readers
        self._full_every = datetime.timedelta(seconds=full_every_s)
        self._verified: tuple[int, str] | None = None
        self._full_pass_at: datetime.datetime | None = None
        self._broken = ""
        self._lock = asyncio.Lock()
        self.latest: Verdict | None = None  # the last check's, for answers that must not wait for one

    async def check(self) -> Verdict:
        """The chain as far as it goes now: a full pass when none is recent, else the new records."""
        async with self._lock:
            now = utcnow()
            full = self._verified is None or self._broken or now - self._full_pass_at >= self._full_every
            intact, problem, last = await self._audit.verify_to_head(self._readers, None if full else self._verified)
            if not intact:
                self._broken = problem
                log.error("the audit chain does not verify: %s", problem)
            else:
                self._verified, self._broken = last, ""
                if full:
                    self._full_pass_at = now
            self.latest = Verdict(intact, problem, self._full_pass_at)
            return self.latest
