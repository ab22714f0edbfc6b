"""Webhook endpoints of an owner (seed §7.4): register, list, read, update, delete, and the
state of their deliveries. Owner = the caller's principal id; an admin sees, updates and deletes any.

`cifer_ids` (CIFER's extension) narrows a webhook to events about those cifers; absent or null,
it gets events about every cifer of its owner (the seed's behaviour).

A signing secret is sealed (`webhooks.secrets`) before it reaches the database and is never
returned; a change and its audit record are one transaction."""

from __future__ import annotations

import dataclasses
import hmac
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from cifer.api.errors import ApiError, ErrorCode
from cifer.envelope.format import CIFER_ID_RE
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.cifers import Caller
from cifer_keyservice.clock import iso, utcnow
from cifer_keyservice.db.models import Delivery, OutboxEvent, Webhook
from cifer_keyservice.events import EVENT_TYPES
from cifer_keyservice.requests import WEBHOOK_ID_RANDOM_CHARS, invalid
from cifer_keyservice.webhooks import secrets as sealing

_ID_ALPHABET = string.ascii_letters + string.digits
MAX_URL_CHARS = 2048  # the column's width
MIN_SECRET_CHARS = 16  # below this an HMAC key is guessable
MAX_SECRET_CHARS = 256
MAX_PAGE = 100
FIELDS = ("url", "events", "secret", "cifer_ids")  # of a registration or an update
MAX_CIFER_IDS = 1000  # a webhook per key set, not per fleet: beyond this, one webhook for all is the tool
DELETED_ERROR = "webhook deleted"
_URI_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")  # RFC 3986's characters


def new_webhook_id() -> str:
    return "wh_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(WEBHOOK_ID_RANDOM_CHARS))


def _url(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_CHARS:
        raise invalid("url", f"must be a string of 1 to {MAX_URL_CHARS} characters")
    if not _URI_TEXT.fullmatch(value):
        raise invalid("url", "must be an absolute http(s) URL of RFC 3986 characters, without spaces")
    scheme, sep, rest = value.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:  # also "https://@host": yarl would drop the empty userinfo silently
        raise invalid("url", "must not carry credentials")
    try:
        parsed = URL(value)
        port = parsed.port
    except ValueError:
        raise invalid("url", "is not a valid URL") from None
    if not sep or parsed.scheme not in ("http", "https") or not parsed.host or port is None:
        raise invalid("url", "must be an absolute http(s) URL")
    return value


def _events(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(e, str) and e in EVENT_TYPES for e in value):
        raise invalid("events", f"must be a non-empty list drawn from {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(value))


def _secret(value: Any) -> str:
    if not isinstance(value, str) or not MIN_SECRET_CHARS <= len(value) <= MAX_SECRET_CHARS:
        raise invalid("secret", f"must be a string of {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters")
    return value


def _cifer_ids(value: Any) -> tuple[str, ...] | None:
    """None (every cifer of the owner) or a list of cifer ids, kept once each in their order.
    The ids need not exist yet: a filter names what to hear about, it grants nothing."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_CIFER_IDS:
        raise invalid("cifer_ids", f"must be null or a list of at most {MAX_CIFER_IDS} cifer ids")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not CIFER_ID_RE.fullmatch(item):
            raise invalid("cifer_ids", f"item {index} is not a cifer id")
    return tuple(dict.fromkeys(value))


def _refuse_unknown(body: Mapping[str, Any]) -> None:
    for key in body:
        if key not in FIELDS:
            raise invalid(key, "unknown field")


@dataclasses.dataclass(frozen=True)
class CreateWebhook:
    url: str
    events: tuple[str, ...]
    secret: str = dataclasses.field(repr=False)  # never in a log line
    cifer_ids: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CreateWebhook:
        _refuse_unknown(body)
        for key in ("url", "events", "secret"):
            if key not in body:
                raise invalid(key, "is required")
        return cls(url=_url(body["url"]), events=_events(body["events"]), secret=_secret(body["secret"]),
                   cifer_ids=_cifer_ids(body.get("cifer_ids")))


@dataclasses.dataclass(frozen=True)
class UpdateWebhook:
    """PATCH /v1/webhooks/{webhook_id}: each field as at registration; an absent one stays as it is,
    and `cifer_ids: null` removes the filter (`sets_cifer_ids` tells null from absent)."""

    url: str | None = None
    events: tuple[str, ...] | None = None
    secret: str | None = dataclasses.field(default=None, repr=False)
    cifer_ids: tuple[str, ...] | None = None
    sets_cifer_ids: bool = False

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> UpdateWebhook:
        _refuse_unknown(body)
        return cls(
            url=_url(body["url"]) if "url" in body else None,
            events=_events(body["events"]) if "events" in body else None,
            secret=_secret(body["secret"]) if "secret" in body else None,
            cifer_ids=_cifer_ids(body.get("cifer_ids")), sets_cifer_ids="cifer_ids" in body,
        )


def view(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "events": list(hook.events),
            "cifer_ids": None if hook.cifer_ids is None else list(hook.cifer_ids), "created_at": iso(hook.created_at)}


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
            raise ApiError(ErrorCode.NOT_FOUND, details={"webhook_id": hook_id})
        return hook

    async def create(self, caller: Caller, request: CreateWebhook) -> dict[str, Any]:
        caller.principal.require("cifer:create")
        hook_id = new_webhook_id()
        hook = Webhook(
            id=hook_id, owner_id=caller.principal.id, url=request.url, events=list(request.events),
            cifer_ids=None if request.cifer_ids is None else list(request.cifer_ids),
            encrypted_secret=sealing.seal(self._secret_key, hook_id, request.secret), created_at=utcnow(),
        )
        async with self._sessions.begin() as session:
            session.add(hook)
            await self._audit.append(session, caller.entry("webhook.create", "success", details=_audit_details(hook)))
        return view(hook)

    async def list(self, caller: Caller, *, limit: int, cursor: str | None) -> dict[str, Any]:
        """The caller's live webhooks (an admin's: all), by id, with a cursor as for cifers."""
        caller.principal.require("cifer:read")
        query = select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id).limit(limit + 1)
        if not caller.principal.is_admin:
            query = query.where(Webhook.owner_id == caller.principal.id)
        if cursor is not None:
            query = query.where(Webhook.id > cursor)
        async with self._sessions.begin() as session:
            rows = (await session.execute(query)).scalars().all()
        page, has_more = rows[:limit], len(rows) > limit
        return {"webhooks": [view(hook) for hook in page], "has_more": has_more,
                "next_cursor": page[-1].id if has_more else None}

    async def get(self, caller: Caller, hook_id: str) -> dict[str, Any]:
        caller.principal.require("cifer:read")
        async with self._sessions.begin() as session:
            return view(await self._visible(session, caller, hook_id))

    async def update(self, caller: Caller, hook_id: str, request: UpdateWebhook) -> dict[str, Any]:
        """Changes what the body names. Deliveries still pending go to the new URL, signed with the
        new secret; the filter applies to events from now on. Audited with the names of the fields
        that changed (never the secret); a request that changes nothing writes nothing."""
        caller.principal.require("cifer:create")
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
            return view(hook)

    def _holds_secret(self, hook: Webhook, secret: str) -> bool:
        """Whether `secret` is the one sealed already (an operator re-applying its spec changes nothing)."""
        try:
            current = sealing.unseal(self._secret_key, hook.id, hook.encrypted_secret)
        except sealing.InvalidSealedSecret:
            return False
        return hmac.compare_digest(current.encode(), secret.encode())

    async def delete(self, caller: Caller, hook_id: str) -> dict[str, Any]:
        """Soft delete: the row stays for its deliveries' history; what was still pending fails."""
        caller.principal.require("cifer:create")
        now = utcnow()
        async with self._sessions.begin() as session:
            hook = await self._visible(session, caller, hook_id, for_update=True)
            hook.deleted_at = now
            await session.execute(
                update(Delivery).where(Delivery.webhook_id == hook.id, Delivery.status == "pending")
                .values(status="failed", last_error=DELETED_ERROR).execution_options(synchronize_session=False)
            )
            await self._audit.append(session, caller.entry("webhook.delete", "success", details=_audit_details(hook)))
        return {"id": hook.id, "deleted": True, "deleted_at": iso(now)}

    async def deliveries(self, caller: Caller, hook_id: str, *, limit: int) -> dict[str, Any]:
        """Newest event first. `last_error` is the latest failure, if any: a status or a
        transport error's kind, never a response body."""
        caller.principal.require("cifer:read")
        async with self._sessions.begin() as session:
            await self._visible(session, caller, hook_id)
            rows = (await session.execute(
                select(Delivery, OutboxEvent.type, OutboxEvent.created_at)
                .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
                .where(Delivery.webhook_id == hook_id)
                .order_by(OutboxEvent.created_at.desc(), Delivery.event_id.desc())
                .limit(limit)
            )).all()
        return {"deliveries": [{
            "event_id": delivery.event_id, "type": event_type, "created": iso(created),
            "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
            "last_error": delivery.last_error, "delivered_at": iso(delivery.delivered_at),
        } for delivery, event_type, created in rows]}
