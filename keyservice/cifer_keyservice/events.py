"""Webhook events (seed §7): written to the outbox in the same transaction as the change
they report, with one pending delivery per subscribed webhook, so a crash loses none.

A webhook is subscribed when it is its owner's, lists the event's type, and either has no
`cifer_ids` filter or lists the event's `data.cifer_id` (so an event about no cifer, such as
`quota.exceeded`, reaches only unfiltered webhooks)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cifer.api import schemas
from cifer.api.timestamps import iso
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Delivery, OutboxEvent, Webhook

EVENT_TYPES = tuple(schemas.EVENTS)  # seed §7.1's, in its order


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


async def emit(session: AsyncSession, event_type: str, *, owner_id: str, data: dict[str, Any]) -> OutboxEvent:
    """Adds the event and its deliveries to the caller's transaction; the §7.2 payload is fixed here."""
    return await session.run_sync(emit_in, event_type, owner_id=owner_id, data=data)


def emit_in(session: Session, event_type: str, *, owner_id: str, data: dict[str, Any]) -> OutboxEvent:
    """`emit` on a synchronous session (the group commit's writer thread)."""
    if event_type not in EVENT_TYPES:
        raise RuntimeError(f"internal error: unknown event type {event_type}")
    now = utcnow()
    event = OutboxEvent(
        id=new_event_id(), type=event_type, owner_id=owner_id, created_at=now,
        payload={"type": event_type, "created": iso(now), "data": data},
    )
    event.payload["id"] = event.id
    session.add(event)
    hooks = session.execute(
        select(Webhook).where(Webhook.owner_id == owner_id, Webhook.deleted_at.is_(None))
    ).scalars()
    cifer_id = data.get("cifer_id")
    for hook in hooks:
        if event_type in hook.events and (hook.cifer_ids is None or cifer_id in hook.cifer_ids):
            session.add(Delivery(event_id=event.id, webhook_id=hook.id, status="pending", attempts=0, next_attempt_at=now))
    return event
