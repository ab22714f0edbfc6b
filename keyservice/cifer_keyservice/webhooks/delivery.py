"""The dispatcher: sends the outbox's pending deliveries to their webhooks, with retries.

One pass (`run_once`):

1. Claim, in one short transaction: pending deliveries due now (`next_attempt_at <= now`),
   oldest first, at most `batch_size`. On PostgreSQL the rows are read `FOR UPDATE SKIP
   LOCKED`, so replicas claiming at once take different rows; SQLite's `BEGIN IMMEDIATE`
   serializes claimers. A claimed row gets `attempts += 1` and a lease: `next_attempt_at =
   now + http_timeout_s + lease_margin_s`. No transaction stays open while sending.
2. Send each claimed delivery concurrently: `POST` of the event's §7.2 JSON with the
   signature headers (`webhooks.signing`); redirects are not followed and at most 1 KiB of
   the response is read, then dropped.
3. Record each outcome in its own transaction, only if the row is still the one claimed
   (`pending`, same `attempts`): a lease that expired and was claimed again, or a webhook
   deleted meanwhile, is not overwritten. 2xx: `delivered`. Otherwise `last_error` says what
   failed and the next attempt waits `min(backoff_cap_s, backoff_base_s * 2**(attempts-1))`,
   less up to 20% jitter; after `max_attempts` the delivery is `failed`.

A process killed between 1 and 3 leaves a leased row that becomes due again when its lease
ends: delivery is at least once, and retries of one event carry the same `X-Cifer-Event-Id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import random
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Delivery, OutboxEvent, Webhook
from cifer_keyservice.webhooks import secrets as sealing
from cifer.webhooks import signing
from cifer.webhooks.sender import SignedSender
from cifer_keyservice.webhooks.service import DELETED_ERROR

log = logging.getLogger("cifer.keyservice.webhooks")
JITTER = 0.2  # retries of many deliveries to one receiver spread over the last 20% of the delay
USER_AGENT = "CIFER-Webhooks/1.0"
MAX_ERROR_CHARS = 255  # the column's width


@dataclasses.dataclass(frozen=True)
class _Job:
    """One claimed delivery, with everything the send needs and no database handle."""

    event_id: str
    webhook_id: str
    url: str
    body: bytes
    attempt: int  # the value of `attempts` this claim wrote: the fencing token for the outcome
    secret: str = dataclasses.field(repr=False)


class Dispatcher:
    def __init__(
        self, sessions: async_sessionmaker, webhook_key: bytes, *, http_timeout_s: float = 10.0,
        max_attempts: int = 8, backoff_base_s: float = 1.0, backoff_cap_s: float = 3600.0,
        lease_margin_s: float = 5.0, batch_size: int = 32, allow_private_networks: bool = False,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        """`http_timeout_s`: the whole of one POST. `max_attempts`: sends before `failed`.
        `backoff_base_s`, `backoff_cap_s`: the first retry's delay and the longest one.
        `lease_margin_s`: how long past the HTTP timeout a claim stays ours (process pauses,
        the outcome's transaction). `batch_size`: deliveries claimed and sent at once.
        `allow_private_networks`: let receivers be on loopback or private addresses (see egress)."""
        if max_attempts < 1 or batch_size < 1 or http_timeout_s <= 0 or backoff_base_s < 0 or lease_margin_s < 0:
            raise ValueError("invalid dispatcher settings")
        self._sessions = sessions
        self._webhook_key = webhook_key
        self._http_timeout_s = http_timeout_s
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._lease_margin_s = lease_margin_s
        self._batch_size = batch_size
        self._clock = clock
        self._sender = SignedSender(timeout_s=http_timeout_s, allow_private_networks=allow_private_networks,
                                    user_agent=USER_AGENT, clock=lambda: self._clock().timestamp())

    def backoff(self, attempts: int) -> datetime.timedelta:
        """The wait after the `attempts`-th failed send."""
        delay = min(self._backoff_cap_s, self._backoff_base_s * 2 ** min(attempts - 1, 62))
        return datetime.timedelta(seconds=delay * (1 - JITTER * random.random()))

    async def run(self, stop: asyncio.Event, poll_interval_s: float = 1.0) -> None:
        """Passes until `stop` is set; a full batch is followed at once by the next pass.
        A failing pass (database down) is logged and retried after `poll_interval_s`."""
        try:
            while not stop.is_set():
                try:
                    claimed = await self.run_once()
                except Exception as exc:
                    log.warning("webhook dispatch pass failed: %s", type(exc).__name__, exc_info=True)
                    claimed = 0
                if claimed < self._batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), poll_interval_s)
        finally:
            await self.close()

    async def run_once(self) -> int:
        """One pass: claim what is due, send it, record the outcomes. Returns how many were claimed."""
        jobs = await self._claim()
        if jobs:
            results = await asyncio.gather(*(self._deliver(job) for job in jobs), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(jobs)

    async def close(self) -> None:
        await self._sender.close()

    async def _claim(self) -> list[_Job]:
        async with self._sessions.begin() as session:
            now = self._clock()
            rows = (await session.execute(
                select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at).limit(self._batch_size)
                .with_for_update(skip_locked=True)  # SQLite: no clause; BEGIN IMMEDIATE serializes
            )).scalars().all()
            if not rows:
                return []
            hooks = {hook.id: hook for hook in (await session.execute(
                select(Webhook).where(Webhook.id.in_({row.webhook_id for row in rows}))
            )).scalars()}
            events = {event.id: event for event in (await session.execute(
                select(OutboxEvent).where(OutboxEvent.id.in_({row.event_id for row in rows}))
            )).scalars()}
            lease_until = now + datetime.timedelta(seconds=self._http_timeout_s + self._lease_margin_s)
            jobs = []
            for row in rows:
                hook = hooks[row.webhook_id]
                if hook.deleted_at is not None:
                    row.status, row.last_error = "failed", DELETED_ERROR
                    continue
                if row.attempts >= self._max_attempts:  # the last send's process died before its outcome
                    row.status, row.last_error = "failed", row.last_error or "no outcome from the last attempt"
                    continue
                row.attempts += 1
                try:
                    secret = sealing.unseal(self._webhook_key, hook.id, hook.encrypted_secret)
                except sealing.InvalidSealedSecret:
                    log.error("the signing secret of webhook %s does not open under the webhooks key", hook.id)
                    self._fail(row, "signing secret unavailable", now)
                    continue
                row.next_attempt_at = lease_until
                jobs.append(_Job(event_id=row.event_id, webhook_id=hook.id, url=hook.url,
                                 body=signing.encode_payload(events[row.event_id].payload),
                                 attempt=row.attempts, secret=secret))
        return jobs

    def _fail(self, row: Delivery, error: str, now: datetime.datetime) -> None:
        row.last_error = error[:MAX_ERROR_CHARS]
        if row.attempts >= self._max_attempts:
            row.status = "failed"
        else:
            row.next_attempt_at = now + self.backoff(row.attempts)

    async def _deliver(self, job: _Job) -> None:
        error = await self._sender.send(job.url, job.body, secret=job.secret, event_id=job.event_id)
        async with self._sessions.begin() as session:
            now = self._clock()
            row = (await session.execute(
                select(Delivery).where(
                    Delivery.event_id == job.event_id, Delivery.webhook_id == job.webhook_id,
                    Delivery.status == "pending", Delivery.attempts == job.attempt,
                ).with_for_update()
            )).scalar_one_or_none()
            if row is None:  # deleted meanwhile, or our lease ran out and another claim took it
                return
            if error is None:
                row.status, row.delivered_at = "delivered", now
            else:
                self._fail(row, error, now)
        if error is not None:
            log.info("webhook delivery %s to %s failed (attempt %d): %s",
                     job.event_id, job.webhook_id, job.attempt, error)
