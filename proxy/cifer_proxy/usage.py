"""The sidecar's usage: its local encryptions (count and bytes) and the payloads that failed
authentication here, tallied per credential and cifer, reported to the key service in batches
(`POST /v1/usage`, format in `cifer/api/usage.py`).

- Who: each tally is reported with the credential it was counted under (the one the encryption
  was authorized with and a decryption's data key was released to: the pod's lent identity, or
  the caller's own), so the key service names the principal it authenticated, never one the
  sidecar claims.
- When: every `interval_s` (at most 5 s), at once when the tallies reach half the bound, and
  once more at shutdown.
- Retries: a batch, once closed, is a report with its own id, kept and sent again with that id
  until the key service answers (it counts a report id once); a refusal that no retry can change
  (400, 401, 403) drops it, logged.
- Bounded memory: open tallies and the entries of unsent reports together hold at most
  `max_entries`; a tally that would pass it is dropped and counted in `dropped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from cifer.api import usage
from cifer.api.endpoints import REPORT_USAGE
from cifer.api.errors import ApiError, ErrorCode
from cifer_proxy.keyservice import KeyServiceClient

log = logging.getLogger("cifer.proxy")
Send = Callable[[str, dict], Awaitable[object]]  # (credential, report body); raises ApiError
MAX_INTERVAL_S = 5.0
RETRIED = (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.RATE_LIMIT_EXCEEDED, ErrorCode.INTERNAL_ERROR)


def reporting_to(client: KeyServiceClient) -> Send:
    """Sends a report to the key service, authenticated by the credential it counts."""
    async def send(credential: str, body: dict) -> object:
        data, _ = await client.data(REPORT_USAGE.method, REPORT_USAGE.path, headers={"Authorization": credential},
                                    json_body=body)
        return data
    return send


@dataclasses.dataclass
class _Tally:
    start: int
    end: int
    encryptions: int = 0
    encrypted_bytes: int = 0
    failed_decryptions: int = 0


@dataclasses.dataclass(frozen=True)
class _Unsent:
    credential: str
    report: usage.Report


class UsageReporter:
    def __init__(self, send: Send, *, interval_s: float, max_entries: int,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0.05 <= interval_s <= MAX_INTERVAL_S or max_entries < 2:
            raise ValueError(f"usage is reported every 0.05 to {MAX_INTERVAL_S} s, and holds at least 2 tallies")
        self._send, self._interval_s, self._max_entries, self._clock = send, interval_s, max_entries, clock
        self._open: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Tally] = {}
        self._unsent: list[_Unsent] = []
        self._held = 0  # entries of `_unsent`
        self._flushing = asyncio.Lock()
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # uses that found no room (the key service away for long)

    @property
    def held(self) -> int:
        """Tallies held, open and unsent: never more than `max_entries`."""
        return len(self._open) + self._held

    def encrypted(self, credential: str, cifer_id: str, nbytes: int, labels: Mapping[str, str] | None = None) -> None:
        """One local encryption; `labels` (cifer.api.usage.LABELS) say what its data was."""
        tally = self._tally(credential, cifer_id, tuple(sorted((labels or {}).items())))
        if tally is not None:
            tally.encryptions += 1
            tally.encrypted_bytes += nbytes

    def payload_failed(self, credential: str, cifer_id: str) -> None:
        tally = self._tally(credential, cifer_id)
        if tally is not None:
            tally.failed_decryptions += 1

    def _tally(self, credential: str, cifer_id: str, labels: tuple[tuple[str, str], ...] = ()) -> _Tally | None:
        now = int(self._clock())
        tally = self._open.get((credential, cifer_id, labels))
        if tally is None:
            if self.held >= self._max_entries:
                if not self.dropped:
                    log.warning("usage tallies are full (%d): uses go unreported until the key service answers",
                                self._max_entries)
                self.dropped += 1
                return None
            tally = self._open[(credential, cifer_id, labels)] = _Tally(now, now)
            if len(self._open) * 2 >= self._max_entries:
                self._due.set()  # report early rather than fill up
        tally.end = max(tally.end, now)
        return tally

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stops the timer and reports what is left, once (the sidecar is stopping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self._interval_s)
            self._due.clear()
            try:
                await self.flush()
            except Exception:  # the timer must outlive any one report
                log.exception("usage report failed")

    async def flush(self) -> None:
        """Closes the open tallies into reports and sends every unsent report, oldest first."""
        async with self._flushing:
            self._close_tallies()
            kept: list[_Unsent] = []
            for unsent in self._unsent:
                if not await self._deliver(unsent):
                    kept.append(unsent)
            self._unsent = kept
            self._held = sum(len(unsent.report.entries) for unsent in kept)

    def _close_tallies(self) -> None:
        tallies, self._open = self._open, {}
        by_credential: dict[str, list[usage.Entry]] = {}
        for (credential, cifer_id, labels), t in tallies.items():
            by_credential.setdefault(credential, []).append(usage.Entry(
                cifer_id, t.encryptions, t.encrypted_bytes, t.failed_decryptions, t.start, t.end, dict(labels)))
        for credential, entries in by_credential.items():
            for at in range(0, len(entries), usage.MAX_ENTRIES):
                part = tuple(entries[at:at + usage.MAX_ENTRIES])
                self._unsent.append(_Unsent(credential, usage.Report(usage.new_report_id(), part)))
                self._held += len(part)

    async def _deliver(self, unsent: _Unsent) -> bool:
        """True once the report needs no more sending: counted, or refused for good."""
        try:
            await self._send(unsent.credential, unsent.report.to_json())
        except ApiError as err:
            if err.code in RETRIED:
                return False
            log.error("usage report %s refused (%s): %d entries dropped", unsent.report.report_id, err.code.name,
                      len(unsent.report.entries))
        return True
