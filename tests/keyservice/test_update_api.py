"""PATCH /v1/cifers/{cifer_id} (CIFER's extension) and `policy.re_encryption_window_days`, over
HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime

from sqlalchemy import select

from cifer_keyservice.db.engine import create_engine, sessions
from cifer_keyservice.db.models import AuditRecord, CiferVersion
from keyservice.helpers import new_cifer, sql
from keyservice.service import KeyService

REVOKE = {"X-Confirm-Revocation": "true"}


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


async def db_all(keyservice: KeyService, query) -> list:
    engine = create_engine(keyservice.settings.database_url)
    try:
        async with sessions(engine)() as session:
            return list((await session.execute(query)).scalars().all())
    finally:
        await engine.dispose()


async def patch(keyservice: KeyService, cifer_id: str, body, headers, expect: int):
    return await keyservice.call("PATCH", f"/v1/cifers/{cifer_id}", json=body, headers=headers, expect=expect)


async def updates(keyservice: KeyService) -> list[AuditRecord]:
    return await db_all(keyservice, select(AuditRecord).where(AuditRecord.operation == "cifer.update"))


async def version_created_at(keyservice: KeyService, cifer_id: str, version: int) -> datetime.datetime:
    [row] = await db_all(keyservice, select(CiferVersion).where(
        CiferVersion.cifer_id == cifer_id, CiferVersion.version == version))
    return row.created_at


async def valid_until(keyservice: KeyService, cifer_id: str) -> datetime.datetime | None:
    _, key = await keyservice.call("GET", f"/v1/keys/{cifer_id}", expect=200)
    value = key["data"]["valid_until"]
    return None if value is None else parse_time(value)


async def test_update_sets_what_the_body_names_and_answers_the_cifer(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, description="old", metadata={"team": "backend", "tier": "1"})
    _, before = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    _, body = await patch(keyservice, cid, {"name": "renamed", "metadata": {"team": "payments"}}, alice, 200)
    data = body["data"]
    assert (data["cifer_id"], data["name"], data["description"], data["metadata"]) == (
        cid, "renamed", "old", {"team": "payments"})  # metadata replaced whole; description left alone
    assert data["policy"] == before["data"]["policy"] and data["key_version"] == 1
    assert parse_time(data["updated_at"]) >= parse_time(before["data"]["updated_at"])
    assert set(data) == set(before["data"])  # the §4.2 body, as GET answers it
    _, got = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert {k: got["data"][k] for k in ("name", "description", "metadata")} == {
        "name": "renamed", "description": "old", "metadata": {"team": "payments"}}


async def test_an_update_is_audited_with_the_changed_fields_and_a_no_op_is_not(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, description="d")
    policy = {"allowed_principals": ["system:serviceaccount:payments:api"], "re_encryption_window_days": 3}
    await patch(keyservice, cid, {"name": "k", "description": "new", "policy": policy}, alice, 200)
    [record] = await updates(keyservice)
    assert (record.principal, record.cifer_id, record.outcome, record.key_version) == ("usr_alice", cid, "success", 1)
    assert record.details.pop("user_agent").startswith("Python/")  # the client's, as it sent it
    assert record.details == {"changed": ["description", "policy.allowed_principals",
                                          "policy.re_encryption_window_days"]}  # not the unchanged name
    _, body = await patch(keyservice, cid, {"name": "k", "policy": policy}, alice, 200)  # the same again
    assert body["data"]["description"] == "new"
    _, body = await patch(keyservice, cid, {}, alice, 200)
    assert body["data"]["policy"]["re_encryption_window_days"] == 3
    assert len(await updates(keyservice)) == 1


async def test_a_new_auto_rotate_days_counts_from_the_current_versions_creation(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    assert await valid_until(keyservice, cid) is None
    created = await version_created_at(keyservice, cid, 1)
    await patch(keyservice, cid, {"policy": {"auto_rotate_days": 30}}, alice, 200)
    assert abs(await valid_until(keyservice, cid) - (created + datetime.timedelta(days=30))) < datetime.timedelta(seconds=1)
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={}, headers=alice, expect=200)
    rotated = await version_created_at(keyservice, cid, 2)
    await patch(keyservice, cid, {"policy": {"auto_rotate_days": 7}}, alice, 200)
    assert abs(await valid_until(keyservice, cid) - (rotated + datetime.timedelta(days=7))) < datetime.timedelta(seconds=1)
    await patch(keyservice, cid, {"policy": {"auto_rotate_days": 0}}, alice, 200)
    assert await valid_until(keyservice, cid) is None
    await patch(keyservice, cid, {"policy": {"auto_rotate_days": 7}}, alice, 200)
    await patch(keyservice, cid, {"policy": {}}, alice, 200)  # the policy is replaced: absent clears it too
    assert await valid_until(keyservice, cid) is None


async def test_other_fields_of_the_policy_leave_the_rotation_date_alone(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, policy={"auto_rotate_days": 30})
    await sql(keyservice, f"UPDATE cifers SET expiring_notified_for = 1 WHERE id = '{cid}'")
    due = await valid_until(keyservice, cid)
    await patch(keyservice, cid, {"policy": {"auto_rotate_days": 30, "allowed_operations": ["encrypt", "decrypt"]}},
                alice, 200)
    assert await valid_until(keyservice, cid) == due
    assert await sql(keyservice, f"SELECT expiring_notified_for FROM cifers WHERE id = '{cid}'") == [(1,)]
    await patch(keyservice, cid, {"policy": {"auto_rotate_days": 60}}, alice, 200)
    # A new date earns a new cifer.expiring notice.
    assert await sql(keyservice, f"SELECT expiring_notified_for FROM cifers WHERE id = '{cid}'") == [(None,)]


async def test_only_the_owner_or_an_admin_may_update(keyservice):
    alice = await keyservice.api_key("usr_alice")
    bob = await keyservice.api_key("usr_bob")
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    reader = await keyservice.api_key("usr_alice", scopes=("cifer:read",))
    cid = await new_cifer(keyservice, alice)
    _, body = await patch(keyservice, cid, {"name": "bobs"}, bob, 404)  # cannot see it: no hint it exists
    assert body["error"]["code"] == "NOT_FOUND"
    await patch(keyservice, cid, {"policy": {"allowed_principals": ["usr_bob"]}}, alice, 200)
    _, body = await patch(keyservice, cid, {"name": "bobs"}, bob, 403)  # sees it (may decrypt), may not manage it
    assert body["error"]["code"] == "FORBIDDEN" and body["error"]["details"]["required_permission"] == "owner"
    _, body = await patch(keyservice, cid, {"name": "x"}, reader, 403)
    assert body["error"]["details"]["required_scope"] == "cifer:create"
    _, body = await patch(keyservice, cid, {"name": "by-admin"}, admin, 200)
    assert (body["data"]["name"], body["data"]["owner_id"]) == ("by-admin", "usr_alice")
    assert [r.principal for r in await updates(keyservice)] == ["usr_alice", "usr_admin"]


async def test_a_revoked_cifer_cannot_be_updated(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    await keyservice.call("DELETE", f"/v1/cifers/{cid}", headers={**alice, **REVOKE}, expect=200)
    _, body = await patch(keyservice, cid, {"name": "again"}, alice, 410)
    assert body["error"]["code"] == "CIFER_REVOKED"


async def test_bad_updates_are_400_naming_the_field(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    cases = [
        ({"nmae": "typo"}, "nmae"),
        ({"algorithm": "ML-KEM-1024"}, "algorithm"),  # the key pair is not the update's to change
        ({"status": "active"}, "status"),
        ({"name": None}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"description": 5}, "description"),
        ({"metadata": None}, "metadata"),
        ({"metadata": {"a": 1}}, "metadata.a"),
        ({"policy": None}, "policy"),
        ({"policy": {"auto_rotate_days": 400}}, "policy.auto_rotate_days"),
        ({"policy": {"re_encryption_window_days": -1}}, "policy.re_encryption_window_days"),
        ({"policy": {"re_encryption_window_days": None}}, "policy.re_encryption_window_days"),
        ({"policy": {"allowed_operations": ["fly"]}}, "policy.allowed_operations"),
        ({"policy": {"rotate_every": 3}}, "policy.rotate_every"),
    ]
    for body, field in cases:
        _, answer = await patch(keyservice, cid, body, alice, 400)
        assert (answer["error"]["code"], answer["error"]["details"]["field"]) == ("INVALID_REQUEST", field), body
    for raw in (b"", b"{nope", b"[]"):
        _, answer = await keyservice.call("PATCH", f"/v1/cifers/{cid}", data=raw, headers=alice, expect=400)
        assert answer["error"]["details"]["field"] == "body"
    _, answer = await keyservice.call("PATCH", "/v1/cifers/not-an-id", json={}, headers=alice, expect=400)
    assert answer["error"]["code"] == "INVALID_CIFER_ID"
    await keyservice.call("PATCH", f"/v1/cifers/{cid}", json={"name": "x"}, expect=401)
    assert await updates(keyservice) == []


async def test_an_update_with_an_idempotency_key_is_replayed_not_redone(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    key = {**alice, "X-Idempotency-Key": "update-1"}
    first, body = await patch(keyservice, cid, {"name": "one"}, key, 200)
    await patch(keyservice, cid, {"name": "two"}, alice, 200)
    again = await keyservice.client.patch(f"/v1/cifers/{cid}", json={"name": "one"}, headers=key)
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == body  # the first answer, byte for byte; the name stays "two"
    _, got = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert got["data"]["name"] == "two"
    _, answer = await patch(keyservice, cid, {"name": "three"}, key, 400)  # the same key, another request
    assert answer["error"]["details"] == {"header": "X-Idempotency-Key"}
    assert "Idempotent-Replayed" not in first.headers


# --- policy.re_encryption_window_days --------------------------------------------------------

async def test_the_policys_window_is_kept_only_when_set(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, plain = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=alice, expect=201)
    assert "re_encryption_window_days" not in plain["data"]["policy"]
    _, windowed = await keyservice.call("POST", "/v1/cifers", headers=alice, expect=201,
                                        json={"name": "k", "policy": {"re_encryption_window_days": 0}})
    assert windowed["data"]["policy"]["re_encryption_window_days"] == 0


async def test_a_rotation_naming_no_window_takes_the_policys_and_an_explicit_one_wins(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, policy={"re_encryption_window_days": 5})
    for body, days in (({}, 5), ({"re_encryption_window_days": 2}, 2), ({"re_encryption_window_days": 0}, 0)):
        _, rotation = await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json=body, headers=alice, expect=200)
        window = (parse_time(rotation["data"]["re_encryption_deadline"])
                  - parse_time(rotation["data"]["rotation_initiated_at"]))
        assert window == datetime.timedelta(days=days), body
    plain = await new_cifer(keyservice, alice)
    _, rotation = await keyservice.call("POST", f"/v1/cifers/{plain}/rotate", headers=alice, expect=200)
    window = parse_time(rotation["data"]["re_encryption_deadline"]) - parse_time(rotation["data"]["rotation_initiated_at"])
    assert window == datetime.timedelta(days=keyservice.settings.default_re_encryption_window_days)
