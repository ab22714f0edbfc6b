"""Automatic rotation from policy.auto_rotate_days: announced once ahead, rotated once even
with several replicas racing, old versions retired after their deadline."""

from __future__ import annotations

import asyncio
import datetime
import io

from sqlalchemy import select, update

from cifer.envelope import encrypt
from cifer_keyservice.db.engine import create_engine
from cifer_keyservice.db.models import Cifer, CiferVersion
from cifer_keyservice.app import create_app
from cifer_keyservice.scheduler import RotationPass
from cifer_keyservice.state import SCHEDULER
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient, sql


def scheduler(keyservice):
    return keyservice.client.server.app[SCHEDULER]


async def events_of(keyservice, cifer_id: str) -> list[str]:
    rows = await sql(keyservice, "SELECT type, payload FROM outbox_events ORDER BY created_at")
    return [r[0] for r in rows if cifer_id in str(r[1])]


async def make_due(keyservice, cifer_id: str, *, in_days: float = -0.001) -> None:
    """Moves the key's rotation date, written through the model's column type as the service writes it."""
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=in_days)
    engine = create_engine(keyservice.settings.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(Cifer).where(Cifer.id == cifer_id).values(next_rotation_at=moment))
    finally:
        await engine.dispose()


async def test_valid_until_follows_auto_rotate_days(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, policy={"auto_rotate_days": 30})
    _, key = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    _, details = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    created = datetime.datetime.strptime(details["data"]["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    valid_until = datetime.datetime.strptime(key["data"]["valid_until"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(valid_until - created - datetime.timedelta(days=30)) < datetime.timedelta(seconds=2)


async def test_a_due_key_is_announced_then_rotated_once(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, policy={"auto_rotate_days": 30})
    await make_due(keyservice, cid, in_days=3)  # inside the 7-day notice
    assert (await scheduler(keyservice).run_once()).expiring == 1
    assert (await scheduler(keyservice).run_once()).expiring == 0  # once per version
    await make_due(keyservice, cid)
    assert (await scheduler(keyservice).run_once()).rotated == 1
    assert (await scheduler(keyservice).run_once()).rotated == 0
    _, key = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    assert key["data"]["key_version"] == 2
    assert await events_of(keyservice, cid) == ["cifer.created", "cifer.expiring", "cifer.rotated"]


async def test_keys_without_auto_rotation_or_revoked_are_left_alone(keyservice):
    alice = await keyservice.api_key("usr_alice")
    manual = await new_cifer(keyservice, alice)
    revoked = await new_cifer(keyservice, alice, policy={"auto_rotate_days": 1})
    await make_due(keyservice, revoked)
    await keyservice.call("DELETE", f"/v1/cifers/{revoked}", headers={**alice, "X-Confirm-Revocation": "true"},
                          expect=200)
    assert await scheduler(keyservice).run_once() == RotationPass(expiring=0, rotated=0, retired=0)
    for cid in (manual, revoked):
        _, body = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
        assert body["data"]["key_version"] == 1


async def test_a_version_past_its_deadline_is_retired(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={"re_encryption_window_days": 0},
                          headers=alice, expect=200)
    assert (await scheduler(keyservice).run_once()).retired == 1
    (state,) = await sql(keyservice, f"SELECT state FROM cifer_versions WHERE cifer_id = '{cid}' AND version = 1")
    assert state[0] == "retired"
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=alice, expect=400)
    assert "retired" in body["error"]["message"]


async def test_replicas_racing_rotate_each_due_key_exactly_once(keyservice, aiohttp_client):
    alice = await keyservice.api_key("usr_alice")
    cids = [await new_cifer(keyservice, alice, policy={"auto_rotate_days": 1}) for _ in range(3)]
    for cid in cids:
        await make_due(keyservice, cid)
    replicas = [scheduler(keyservice)]
    for _ in range(2):  # two more replicas on the same database; their own loops pass at start too
        other = await aiohttp_client(create_app(keyservice.settings, audit_stream=io.StringIO()))
        replicas.append(other.server.app[SCHEDULER])
    await asyncio.gather(*(replica.run_once() for replica in replicas for _ in range(2)))
    rotations = await sql(keyservice, "SELECT cifer_id FROM audit_log WHERE operation = 'rotate'")
    assert sorted(r[0] for r in rotations) == sorted(cids)
    for cid in cids:
        _, key = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
        assert key["data"]["key_version"] == 2
        assert (await events_of(keyservice, cid)).count("cifer.rotated") == 1


async def test_a_scheduled_rotation_keeps_the_old_version_for_the_policys_window(keyservice):
    alice = await keyservice.api_key("usr_alice")
    windowed = await new_cifer(keyservice, alice, policy={"auto_rotate_days": 30, "re_encryption_window_days": 3})
    default = await new_cifer(keyservice, alice, policy={"auto_rotate_days": 30})
    for cid in (windowed, default):
        await make_due(keyservice, cid)
    assert (await scheduler(keyservice).run_once()).rotated == 2
    for cid, days in ((windowed, 3), (default, keyservice.settings.default_re_encryption_window_days)):
        engine = create_engine(keyservice.settings.database_url)
        try:
            async with engine.connect() as conn:
                old = (await conn.execute(select(CiferVersion).where(
                    CiferVersion.cifer_id == cid, CiferVersion.version == 1))).one()
                new = (await conn.execute(select(CiferVersion).where(
                    CiferVersion.cifer_id == cid, CiferVersion.version == 2))).one()
        finally:
            await engine.dispose()
        assert old.state == "decrypt_only"
        assert abs(old.decrypt_until - new.created_at - datetime.timedelta(days=days)) < datetime.timedelta(seconds=1)
