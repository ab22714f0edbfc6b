"""The service's own symmetric keys (the audit MAC key, the key that encrypts webhook
secrets, the key that signs report download URLs): random, stored only wrapped by the KEK,
unwrapped once at start. The audit key is made in one transaction with the audit log's MAC'd
genesis head, so the log has a head for as long as it has a key (`audit`)."""

from __future__ import annotations

import os

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.keystore.kek import Kek
from cifer_keyservice import audit
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import ServiceKey

AUDIT = "audit"
WEBHOOKS = "webhooks"
REPORTS = "reports"  # signs reports' download URLs
NAMES = (AUDIT, WEBHOOKS, REPORTS)
KEY_BYTES = 32


async def load(sessions: async_sessionmaker, kek: Kek) -> dict[str, bytes]:
    """Every service key, made on first start. Replicas racing to make one: the first
    insert wins and the others read it back."""
    keys = {}
    for name in NAMES:
        async with sessions.begin() as session:
            row = await session.get(ServiceKey, name)
        if row is None:
            key = os.urandom(KEY_BYTES)
            try:
                async with sessions.begin() as session:
                    session.add(ServiceKey(name=name, wrapped_key=kek.wrap(key), kek_id=kek.kek_id, created_at=utcnow()))
                    if name == AUDIT:
                        await session.flush()  # the key first: a replica that lost the race fails here
                        session.add(audit.genesis_head(key))
            except IntegrityError:
                pass
            async with sessions.begin() as session:
                row = (await session.execute(select(ServiceKey).where(ServiceKey.name == name))).scalar_one()
        keys[name] = kek.unwrap(row.wrapped_key)
    await audit.seal_upgraded_head(sessions, keys[AUDIT])
    return keys
