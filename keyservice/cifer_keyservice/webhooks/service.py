"""Webhook endpoints of an owner (seed §7.4): register, list, read, update, delete, and the
state of their deliveries. Owner = the caller's principal id; an admin sees, updates and deletes any.

`cifer_ids` (CIFER's extension) narrows a webhook to events about those cifers; absent or null,
it gets events about every cifer of its owner (the seed's behaviour).

A signing secret is sealed (`webhooks.secrets`) before it reaches the database and is never
returned; a change and its audit record are one transaction."""

from __future__ import annotations

import dataclasses
import datetime
import hmac
import secrets
import string
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from cifer.api.schemas import WEBHOOK_ID_RANDOM_CHARS
from cifer_keyservice import errors
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.cifers import Caller
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Delivery, OutboxEvent, Webhook
from cifer_keyservice.records import Page
from cifer_keyservice.webhooks import secrets as sealing

_ID_ALPHABET = string.ascii_letters + string.digits
DELETED_ERROR = "webhook deleted"


def new_webhook_id() -> str:
    return "wh_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(WEBHOOK_ID_RANDOM_CHARS))


@dataclasses.dataclass(frozen=True)
class CreateWebhook:
    url: str
    events: tuple[str, ...]
    secret: str = dataclasses.field(repr=False)  # never in a log line
    cifer_ids: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class UpdateWebhook:
    """Each field as at registration; None leaves it as it is, and `cifer_ids` None with
    `sets_cifer_ids` removes the filter (null is not absence)."""

    url: str | None = None
    events: tuple[str, ...] | None = None
    secret: str | None = dataclasses.field(default=None, repr=False)
    cifer_ids: tuple[str, ...] | None = None
    sets_cifer_ids: bool = False


@dataclasses.dataclass(frozen=True)
class WebhookRecord:
    """A webhook as its owner sees it: never its secret."""

    id: str
    url: str
    events: tuple[str, ...]
    cifer_ids: tuple[str, ...] | None
    created_at: datetime.datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookRecord:
        return cls(id=hook.id, url=hook.url, events=tuple(hook.events),
                   cifer_ids=None if hook.cifer_ids is None else tuple(hook.cifer_ids), created_at=hook.created_at)


@dataclasses.dataclass(frozen=True)
class DeliveryRecord:
    """One event's delivery to one webhook; `last_error` is a status or a transport error's kind."""

    event_id: str
    type: str
    created: datetime.datetime
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime.datetime | None  # only while pending
    last_error: str | None
    delivered_at: datetime.datetime | None


def _audit_details(hook: Webhook, **more: Any) -> dict[str, Any]:
    # The host only: a URL's path or query may itself be a credential. A filter by its size only.
    return {"webhook_id": hook.id, "events": list(hook.events), "url_host": URL(hook.url).host,
            "cifer_ids": None if hook.cifer_ids is None else len(hook.cifer_ids), **more}


class WebhookService:
    def __init__(self, sessions: async_sessionmaker, secret_key: bytes, audit: AuditLog) -> None:
        self._sessions = sessions
        self._secret_key = secret_key
        self._audit = audit

    async def _visible(self, session: AsyncSession, caller: Caller, hook_id: str, *,
                       for_update: bool = False) -> Webhook:
        """The live webhook if the caller owns it (or is admin); 404 otherwise, so ids cannot be probed."""
        query = select(Webhook).where(Webhook.id == hook_id, Webhook.deleted_at.is_(None))
        if for_update:
            query = query.with_for_update()
        hook = (await session.execute(query)).scalar_one_or_none()
        if hook is None or not (caller.principal.is_admin or hook.owner_id == caller.principal.id):
            raise errors.NotFound(webhook_id=hook_id)
        return hook

    async def create(self, caller: Caller, request: CreateWebhook) -> WebhookRecord:
        hook_id = new_webhook_id()
        hook = Webhook(
            id=hook_id, owner_id=caller.principal.id, url=request.url, events=list(request.events),
            cifer_ids=None if request.cifer_ids is None else list(request.cifer_ids),
            encrypted_secret=sealing.seal(self._secret_key, hook_id, request.secret), created_at=utcnow(),
        )
        async with self._sessions.begin() as session:
            session.add(hook)
            await self._audit.append(session, caller.entry("webhook.create", "success", details=_audit_details(hook)))
        return WebhookRecord.of(hook)

    async def list(self, caller: Caller, *, limit: int, cursor: str | None) -> Page[WebhookRecord]:
        """The caller's live webhooks (an admin's: all), by id, with a cursor as for cifers."""
        query = select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id).limit(limit + 1)
        if not caller.principal.is_admin:
            query = query.where(Webhook.owner_id == caller.principal.id)
        if cursor is not None:
            query = query.where(Webhook.id > cursor)
        async with self._sessions.begin() as session:
            rows = (await session.execute(query)).scalars().all()
        return Page.of(rows, limit, key=lambda hook: hook.id, record=WebhookRecord.of)

    async def get(self, caller: Caller, hook_id: str) -> WebhookRecord:
        async with self._sessions.begin() as session:
            return WebhookRecord.of(await self._visible(session, caller, hook_id))

    async def update(self, caller: Caller, hook_id: str, request: UpdateWebhook) -> WebhookRecord:
        """Changes what the body names. Deliveries still pending go to the new URL, signed with the
        new secret; the filter applies to events from now on. Audited with the names of the fields
        that changed (never the secret); a request that changes nothing writes nothing."""
        async with self._sessions.begin() as session:
            hook = await self._visible(session, caller, hook_id, for_update=True)
            changed = []
            if request.url is not None and request.url != hook.url:
                hook.url = request.url
                changed.append("url")
            if request.events is not None and list(request.events) != list(hook.events):
                hook.events = list(request.events)
                changed.append("events")
            if request.secret is not None and not self._holds_secret(hook, request.secret):
                hook.encrypted_secret = sealing.seal(self._secret_key, hook.id, request.secret)
                changed.append("secret")
            cifer_ids = None if request.cifer_ids is None else list(request.cifer_ids)
            if request.sets_cifer_ids and cifer_ids != hook.cifer_ids:
                hook.cifer_ids = cifer_ids
                changed.append("cifer_ids")
            if changed:
                await self._audit.append(session, caller.entry(
                    "webhook.update", "success", details=_audit_details(hook, changed=changed)))
            return WebhookRecord.of(hook)

    def _holds_secret(self, hook: Webhook, secret: str) -> bool:
        """Whether `secret` is the one sealed already (an operator re-applying its spec changes nothing)."""
        try:
            current = sealing.unseal(self._secret_key, hook.id, hook.encrypted_secret)
        except sealing.InvalidSealedSecret:
            return False
        return hmac.compare_digest(current.encode(), secret.encode())

    async def delete(self, caller: Caller, hook_id: str) -> datetime.datetime:
        """Soft delete: the row stays for its deliveries' history; what was still pending fails.
        Returns when it was deleted."""
        now = utcnow()
        async with self._sessions.begin() as session:
            hook = await self._visible(session, caller, hook_id, for_update=True)
            hook.deleted_at = now
            await session.execute(
                update(Delivery).where(Delivery.webhook_id == hook.id, Delivery.status == "pending")
                .values(status="failed", last_error=DELETED_ERROR).execution_options(synchronize_session=False)
            )
            await self._audit.append(session, caller.entry("webhook.delete", "success", details=_audit_details(hook)))
        return now

    async def deliveries(self, caller: Caller, hook_id: str, *, limit: int) -> list[DeliveryRecord]:
        """Newest event first. `last_error` is the latest failure, if any: a status or a
        transport error's kind, never a response body."""
        async with self._sessions.begin() as session:
            await self._visible(session, caller, hook_id)
            rows = (await session.execute(
                select(Delivery, OutboxEvent.type, OutboxEvent.created_at)
                .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
                .where(Delivery.webhook_id == hook_id)
                .order_by(OutboxEvent.created_at.desc(), Delivery.event_id.desc())
                .limit(limit)
            )).all()
        return [DeliveryRecord(
            event_id=delivery.event_id, type=event_type, created=created, status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
            last_error=delivery.last_error, delivered_at=delivery.delivered_at,
        ) for delivery, event_type, created in rows]
