"""The key service's watch over its audit chain (docs/audit.md, "The service's watch"): a whole pass
first, then only what is appended; a break found stays reported until a whole pass succeeds; and
what it does not see at once (an old record altered after it was verified) the daily pass finds."""

from __future__ import annotations

import datetime

from sqlalchemy import select, update

from cifer_keyservice.chain_watch import ChainWatch
from cifer_keyservice.db.models import AuditRecord
from cifer_keyservice.state import AUDIT_LOG, SESSIONS
from keyservice.test_security_monitoring import HOUR_A, at
from keyservice.test_webhooks import db_all, transaction_on


async def new_cifers(keyservice, headers, count: int) -> None:
    for n in range(count):
        await keyservice.call("POST", "/v1/cifers", headers=headers, json={"name": f"k{n}"}, expect=201)


async def tamper(keyservice, seq: int, principal: str) -> None:
    async with transaction_on(keyservice.settings) as session:
        await session.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(principal=principal))


async def test_the_watch_checks_what_is_appended_and_the_daily_pass_the_rest(keyservice, monkeypatch):
    at(monkeypatch, HOUR_A)
    app = keyservice.client.app
    watch = ChainWatch(app[AUDIT_LOG], app[SESSIONS])
    alice = await keyservice.api_key("usr_alice")
    await new_cifers(keyservice, alice, 3)
    first = await watch.check()
    assert first.intact and first.full_pass_at is not None

    await new_cifers(keyservice, alice, 2)  # appended since: the next check reads them
    [newest] = await db_all(keyservice.settings, select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1))
    original = (await db_all(keyservice.settings, select(AuditRecord.principal).where(AuditRecord.seq == newest)))[0]
    await tamper(keyservice, newest, "usr_mallory")
    broken = await watch.check()
    assert not broken.intact and f"record {newest}" in broken.problem
    assert (await watch.check()).intact is False  # stays broken: the next check is a whole pass, and fails
    await tamper(keyservice, newest, original)
    assert (await watch.check()).intact  # the whole pass succeeds again

    await tamper(keyservice, 1, "usr_mallory")  # verified before: a check of what is new does not see it
    assert (await watch.check()).intact
    at(monkeypatch, HOUR_A + datetime.timedelta(days=1, minutes=1))  # a day on: the daily whole pass
    late = await watch.check()
    assert not late.intact and "record 1" in late.problem
