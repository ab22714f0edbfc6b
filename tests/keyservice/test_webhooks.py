"""Webhooks (seed §7) over HTTP on SQLite and PostgreSQL: registration, signed deliveries to a
real receiver on loopback, retries, event filtering, deletion, and no event lost to a restart."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import json
import time

import pytest
from sqlalchemy import select

from cifer.keystore.config import FileKekSettings, open_kek
from cifer_keyservice import events, servicekeys
from cifer_keyservice.app import create_app
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.engine import create_engine, sessions
from cifer_keyservice.db.models import AuditRecord, Delivery, OutboxEvent, Webhook
from cifer_keyservice.settings import KeyServiceSettings
from cifer_keyservice.webhooks import secrets as sealing
from cifer_keyservice.webhooks.delivery import Dispatcher
from cifer.sdk.webhooks import verify_signature as verify_v2  # the receiver's side, as the SDK ships it
from cifer.webhooks.signing import signature_v2
from keyservice.service import KeyService
from webhook_receiver import Receiver, verify_webhook

SECRET = "whsec_abc123-receivers-own-secret"
EVENTS = ["cifer.created", "cifer.rotated", "cifer.revoked"]
SOME_URL = "https://yourapp.example/webhooks/cifer"
REVOKE = {"X-Confirm-Revocation": "true"}


@pytest.fixture
async def receivers():
    made: list[Receiver] = []

    def new(*statuses, hang_first: bool = False) -> Receiver:
        made.append(Receiver(statuses, hang_first=hang_first))
        return made[-1]

    yield new
    for receiver in made:
        await receiver.stop()


def fast_settings(database_url: str, tmp_path, **overrides) -> KeyServiceSettings:
    """Retries and polls in tens of milliseconds, so a test waits for no real backoff; the test
    receivers listen on loopback, which deliveries may reach only when private networks are allowed."""
    return KeyServiceSettings(database_url=database_url, kek=FileKekSettings(tmp_path / "kek.key"),
                              **{"webhook_backoff_base_s": 0.05, "webhook_poll_interval_s": 0.05,
                                 "webhook_allow_private_networks": True, **overrides})


async def start_service(aiohttp_client, settings: KeyServiceSettings) -> KeyService:
    audit_lines = io.StringIO()
    return KeyService(await aiohttp_client(create_app(settings, audit_stream=audit_lines)), settings, audit_lines)


@pytest.fixture
async def fast(aiohttp_client, database_url, tmp_path):
    """The `keyservice` fixture's service, with the webhook dispatcher's waits made tiny."""
    return await start_service(aiohttp_client, fast_settings(database_url, tmp_path))


async def eventually(check, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def db_all(settings: KeyServiceSettings, query) -> list:
    engine = create_engine(settings.database_url)
    try:
        async with sessions(engine)() as session:
            return list((await session.execute(query)).scalars().all())
    finally:
        await engine.dispose()


async def register(service: KeyService, headers, url: str = SOME_URL, events=EVENTS) -> str:
    _, body = await service.call("POST", "/v1/webhooks", json={"url": url, "events": events, "secret": SECRET},
                                 headers=headers, expect=201)
    return body["data"]["id"]


async def new_cifer(service: KeyService, headers, name: str = "my-encryption-key") -> str:
    _, body = await service.call("POST", "/v1/cifers", json={"name": name}, headers=headers, expect=201)
    return body["data"]["cifer_id"]


async def deliveries(service: KeyService, headers, hook_id: str) -> list[dict]:
    _, body = await service.call("GET", f"/v1/webhooks/{hook_id}/deliveries", headers=headers, expect=200)
    return body["data"]["deliveries"]


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


# --- registration --------------------------------------------------------------------------

async def test_register_returns_201_and_never_the_secret(keyservice):
    alice = await keyservice.api_key("usr_alice")
    resp, body = await keyservice.call("POST", "/v1/webhooks", headers=alice, expect=201,
                                       json={"url": SOME_URL, "events": EVENTS, "secret": SECRET})
    data = body["data"]
    assert set(data) == {"id", "url", "events", "cifer_ids", "created_at"}
    assert data["id"].startswith("wh_") and len(data["id"]) == 27
    assert (data["url"], data["events"], data["cifer_ids"]) == (SOME_URL, EVENTS, None)
    parse_time(data["created_at"])
    _, got = await keyservice.call("GET", f"/v1/webhooks/{data['id']}", headers=alice, expect=200)
    _, listed = await keyservice.call("GET", "/v1/webhooks", headers=alice, expect=200)
    assert got["data"] == data and listed["data"]["webhooks"] == [data]
    for text in (await resp.text(), json.dumps(got), json.dumps(listed), keyservice.audit_lines.getvalue()):
        assert SECRET not in text

    [row] = await db_all(keyservice.settings, select(Webhook))
    assert row.owner_id == "usr_alice" and SECRET.encode() not in row.encrypted_secret
    assert len(row.encrypted_secret) == sealing.NONCE_BYTES + len(SECRET) + sealing.TAG_BYTES
    [record] = await db_all(keyservice.settings, select(AuditRecord).where(AuditRecord.operation == "webhook.create"))
    assert record.principal == "usr_alice" and record.details["webhook_id"] == data["id"]
    assert SECRET not in json.dumps(record.details)


async def test_bad_input_is_400_naming_the_field(keyservice):
    alice = await keyservice.api_key("usr_alice")
    good = {"url": SOME_URL, "events": EVENTS, "secret": SECRET}
    cases = [
        ({}, "url"),
        ({"url": SOME_URL, "events": EVENTS}, "secret"),
        ({**good, "active": True}, "active"),
        ({**good, "url": "ftp://yourapp.example/hook"}, "url"),
        ({**good, "url": "https://user:password@yourapp.example/hook"}, "url"),
        ({**good, "url": "https://@yourapp.example/hook"}, "url"),
        ({**good, "url": "https://yourapp.example/" + "a" * 2048}, "url"),
        ({**good, "url": "/webhooks/cifer"}, "url"),
        ({**good, "url": "https://yourapp.example:99999/"}, "url"),
        ({**good, "url": "https://<yourapp>.example/hook"}, "url"),  # not RFC 3986
        ({**good, "url": 42}, "url"),
        ({**good, "events": []}, "events"),
        ({**good, "events": ["cifer.created", "cifer.exploded"]}, "events"),
        ({**good, "events": "cifer.created"}, "events"),
        ({**good, "secret": "too-short"}, "secret"),
        ({**good, "secret": "x" * 257}, "secret"),
        ({**good, "secret": 1234567890123456}, "secret"),
        ({**good, "cifer_ids": "cif_" + "A" * 24}, "cifer_ids"),
        ({**good, "cifer_ids": ["cif_short"]}, "cifer_ids"),
        ({**good, "cifer_ids": [42]}, "cifer_ids"),
        ({**good, "cifer_ids": {"cif_" + "A" * 24: True}}, "cifer_ids"),
        ({**good, "cifer_ids": [f"cif_{n:024d}" for n in range(1001)]}, "cifer_ids"),
    ]
    for body, field in cases:
        _, answer = await keyservice.call("POST", "/v1/webhooks", json=body, headers=alice, expect=400)
        assert (answer["error"]["code"], answer["error"]["details"]["field"]) == ("INVALID_REQUEST", field), body
    _, answer = await keyservice.call("POST", "/v1/webhooks", data=b"{not json", headers=alice, expect=400)
    assert answer["error"]["details"]["field"] == "body"
    _, answer = await keyservice.call("GET", "/v1/webhooks/not-a-webhook", headers=alice, expect=400)
    assert answer["error"]["details"]["field"] == "webhook_id"
    _, answer = await keyservice.call("GET", "/v1/webhooks", params={"limit": "0"}, headers=alice, expect=400)
    assert answer["error"]["details"]["field"] == "limit"
    await keyservice.call("POST", "/v1/webhooks", json=good, expect=401)
    reader = await keyservice.api_key("usr_alice", scopes=("cifer:read",))
    _, answer = await keyservice.call("POST", "/v1/webhooks", json=good, headers=reader, expect=403)
    assert answer["error"]["code"] == "FORBIDDEN"
    assert await db_all(keyservice.settings, select(Webhook)) == []


async def test_owners_see_their_own_webhooks_and_an_admin_sees_all(keyservice):
    alice = await keyservice.api_key("usr_alice")
    bob = await keyservice.api_key("usr_bob")
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    alices = await register(keyservice, alice)
    bobs = await register(keyservice, bob)
    _, listed = await keyservice.call("GET", "/v1/webhooks", headers=alice, expect=200)
    assert [hook["id"] for hook in listed["data"]["webhooks"]] == [alices]
    for method, path in [("GET", f"/v1/webhooks/{alices}"), ("DELETE", f"/v1/webhooks/{alices}"),
                         ("GET", f"/v1/webhooks/{alices}/deliveries")]:
        _, answer = await keyservice.call(method, path, headers=bob, expect=404)
        assert answer["error"]["code"] == "NOT_FOUND"
    _, listed = await keyservice.call("GET", "/v1/webhooks", headers=admin, expect=200)
    assert {hook["id"] for hook in listed["data"]["webhooks"]} == {alices, bobs}
    await keyservice.call("GET", f"/v1/webhooks/{alices}", headers=admin, expect=200)
    reader = await keyservice.api_key("usr_alice", scopes=("cifer:read",))
    await keyservice.call("GET", f"/v1/webhooks/{alices}", headers=reader, expect=200)
    _, answer = await keyservice.call("DELETE", f"/v1/webhooks/{alices}", headers=reader, expect=403)
    assert answer["error"]["details"]["required_scope"] == "cifer:create"
    await keyservice.call("DELETE", f"/v1/webhooks/{bobs}", headers=admin, expect=200)


async def test_delete_is_soft_final_and_audited(keyservice):
    alice = await keyservice.api_key("usr_alice")
    hook_id = await register(keyservice, alice)
    _, body = await keyservice.call("DELETE", f"/v1/webhooks/{hook_id}", headers=alice, expect=200)
    assert (body["data"]["id"], body["data"]["deleted"]) == (hook_id, True)
    parse_time(body["data"]["deleted_at"])
    for method in ("GET", "DELETE"):
        await keyservice.call(method, f"/v1/webhooks/{hook_id}", headers=alice, expect=404)
    _, listed = await keyservice.call("GET", "/v1/webhooks", headers=alice, expect=200)
    assert listed["data"]["webhooks"] == []
    [row] = await db_all(keyservice.settings, select(Webhook))
    assert row.deleted_at is not None
    [record] = await db_all(keyservice.settings, select(AuditRecord).where(AuditRecord.operation == "webhook.delete"))
    assert record.principal == "usr_alice" and record.details["webhook_id"] == hook_id


async def test_a_filter_by_cifer_is_kept_once_per_id_and_shown(keyservice):
    alice = await keyservice.api_key("usr_alice")
    one, two = "cif_" + "A" * 24, "cif_" + "B" * 24  # need not exist: a filter grants nothing
    _, body = await keyservice.call("POST", "/v1/webhooks", headers=alice, expect=201, json={
        "url": SOME_URL, "events": EVENTS, "secret": SECRET, "cifer_ids": [one, two, one]})
    assert body["data"]["cifer_ids"] == [one, two]
    _, got = await keyservice.call("GET", f"/v1/webhooks/{body['data']['id']}", headers=alice, expect=200)
    assert got["data"] == body["data"]
    _, empty = await keyservice.call("POST", "/v1/webhooks", headers=alice, expect=201, json={
        "url": SOME_URL, "events": EVENTS, "secret": SECRET, "cifer_ids": []})
    assert empty["data"]["cifer_ids"] == []  # about no cifer at all: not the same as null
    _, unfiltered = await keyservice.call("POST", "/v1/webhooks", headers=alice, expect=201, json={
        "url": SOME_URL, "events": EVENTS, "secret": SECRET, "cifer_ids": None})
    assert unfiltered["data"]["cifer_ids"] is None
    _, most = await keyservice.call("POST", "/v1/webhooks", headers=alice, expect=201, json={
        "url": SOME_URL, "events": EVENTS, "secret": SECRET, "cifer_ids": [f"cif_{n:024d}" for n in range(1000)]})
    assert len(most["data"]["cifer_ids"]) == 1000


# --- update --------------------------------------------------------------------------------

async def update(service: KeyService, hook_id: str, body, headers, expect: int) -> dict:
    _, answer = await service.call("PATCH", f"/v1/webhooks/{hook_id}", json=body, headers=headers, expect=expect)
    return answer


async def updates(service: KeyService) -> list[AuditRecord]:
    return await db_all(service.settings, select(AuditRecord).where(AuditRecord.operation == "webhook.update"))


async def test_update_changes_only_what_the_body_names(keyservice):
    alice = await keyservice.api_key("usr_alice")
    hook_id = await register(keyservice, alice)
    one = "cif_" + "A" * 24
    answer = await update(keyservice, hook_id, {"events": ["cifer.revoked"], "cifer_ids": [one]}, alice, 200)
    assert {k: answer["data"][k] for k in ("id", "url", "events", "cifer_ids")} == (
        {"id": hook_id, "url": SOME_URL, "events": ["cifer.revoked"], "cifer_ids": [one]})
    answer = await update(keyservice, hook_id, {"url": "https://other.example/hooks"}, alice, 200)
    assert (answer["data"]["url"], answer["data"]["cifer_ids"]) == ("https://other.example/hooks", [one])  # kept
    answer = await update(keyservice, hook_id, {"cifer_ids": None}, alice, 200)
    assert answer["data"]["cifer_ids"] is None  # null: every cifer again
    _, got = await keyservice.call("GET", f"/v1/webhooks/{hook_id}", headers=alice, expect=200)
    assert got["data"] == answer["data"]
    [row] = await db_all(keyservice.settings, select(Webhook))
    assert row.cifer_ids is None and row.events == ["cifer.revoked"]


async def test_an_update_is_audited_by_field_names_never_the_secret_and_a_no_op_is_not(keyservice):
    alice = await keyservice.api_key("usr_alice")
    hook_id = await register(keyservice, alice)
    new_secret = "whsec_the-new-and-longer-secret"
    answer = await update(keyservice, hook_id, {"secret": new_secret, "events": EVENTS,
                                                "cifer_ids": ["cif_" + "A" * 24]}, alice, 200)
    assert "secret" not in answer["data"]
    [record] = await updates(keyservice)
    assert record.principal == "usr_alice" and record.details["webhook_id"] == hook_id
    assert record.details["changed"] == ["secret", "cifer_ids"]  # the events were the same
    assert record.details["cifer_ids"] == 1
    for text in (json.dumps(answer), keyservice.audit_lines.getvalue(), json.dumps(record.details)):
        assert new_secret not in text and SECRET not in text
    [row] = await db_all(keyservice.settings, select(Webhook))
    key = await webhooks_key(keyservice.settings)
    assert sealing.unseal(key, hook_id, row.encrypted_secret) == new_secret
    await update(keyservice, hook_id, {"secret": new_secret, "url": SOME_URL}, alice, 200)  # the same again
    await update(keyservice, hook_id, {}, alice, 200)
    assert len(await updates(keyservice)) == 1


async def test_only_the_owner_or_an_admin_may_update_a_webhook(keyservice):
    alice = await keyservice.api_key("usr_alice")
    bob = await keyservice.api_key("usr_bob")
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    reader = await keyservice.api_key("usr_alice", scopes=("cifer:read",))
    hook_id = await register(keyservice, alice)
    answer = await update(keyservice, hook_id, {"events": ["cifer.created"]}, bob, 404)
    assert answer["error"]["code"] == "NOT_FOUND"
    answer = await update(keyservice, hook_id, {"events": ["cifer.created"]}, reader, 403)
    assert answer["error"]["details"]["required_scope"] == "cifer:create"
    await update(keyservice, hook_id, {"events": ["cifer.created"]}, admin, 200)
    assert [r.principal for r in await updates(keyservice)] == ["usr_admin"]
    await keyservice.call("DELETE", f"/v1/webhooks/{hook_id}", headers=alice, expect=200)
    await update(keyservice, hook_id, {"events": EVENTS}, alice, 404)  # deleted is gone


async def test_bad_updates_are_400_naming_the_field(keyservice):
    alice = await keyservice.api_key("usr_alice")
    hook_id = await register(keyservice, alice)
    cases = [
        ({"active": False}, "active"),
        ({"url": None}, "url"),
        ({"url": "ftp://yourapp.example/hook"}, "url"),
        ({"url": "https://user:password@yourapp.example/hook"}, "url"),
        ({"events": []}, "events"),
        ({"events": None}, "events"),
        ({"events": ["cifer.exploded"]}, "events"),
        ({"secret": None}, "secret"),
        ({"secret": "too-short"}, "secret"),
        ({"cifer_ids": ["not-a-cifer"]}, "cifer_ids"),
        ({"cifer_ids": [f"cif_{n:024d}" for n in range(1001)]}, "cifer_ids"),
    ]
    for body, field in cases:
        answer = await update(keyservice, hook_id, body, alice, 400)
        assert (answer["error"]["code"], answer["error"]["details"]["field"]) == ("INVALID_REQUEST", field), body
    for raw in (b"", b"{nope", b'"url"'):
        _, answer = await keyservice.call("PATCH", f"/v1/webhooks/{hook_id}", data=raw, headers=alice, expect=400)
        assert answer["error"]["details"]["field"] == "body"
    answer = await update(keyservice, "not-a-webhook", {}, alice, 400)
    assert answer["error"]["details"]["field"] == "webhook_id"
    await keyservice.call("PATCH", f"/v1/webhooks/{hook_id}", json={"events": EVENTS}, expect=401)
    assert await updates(keyservice) == []


async def test_a_new_secret_signs_the_next_delivery(fast, receivers):
    receiver = await receivers().start()
    alice = await fast.api_key("usr_alice")
    hook_id = await register(fast, alice, receiver.url)
    new_secret = "whsec_rotated-by-the-operator"
    await update(fast, hook_id, {"secret": new_secret}, alice, 200)
    await new_cifer(fast, alice)
    await eventually(lambda: receiver.requests)
    headers, body = receiver.requests[0]
    assert verify_webhook(body, headers["X-Cifer-Signature"], new_secret)
    assert verify_v2(body, headers["X-Cifer-Signature-V2"], new_secret)
    assert not verify_webhook(body, headers["X-Cifer-Signature"], SECRET)


async def webhooks_key(settings: KeyServiceSettings) -> bytes:
    engine = create_engine(settings.database_url)
    kek = open_kek(settings.kek, create=False)
    try:
        return (await servicekeys.load(sessions(engine), kek))[servicekeys.WEBHOOKS]
    finally:
        kek.close()
        await engine.dispose()


# --- the filter by cifer -------------------------------------------------------------------

async def delivered_about(settings: KeyServiceSettings, hook_id: str) -> list[tuple[str, str | None]]:
    """(event type, data.cifer_id) of each delivery to the webhook, oldest first."""
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(OutboxEvent.type, OutboxEvent.payload).join(Delivery, Delivery.event_id == OutboxEvent.id)
                .where(Delivery.webhook_id == hook_id).order_by(OutboxEvent.created_at, OutboxEvent.id)
            )).all()
    finally:
        await engine.dispose()
    return [(event_type, payload["data"].get("cifer_id")) for event_type, payload in rows]


async def test_a_filtered_webhook_gets_only_events_about_its_cifers(paused):
    alice = await paused.api_key("usr_alice")
    every = ["cifer.created", "cifer.rotated", "cifer.revoked", "quota.exceeded"]
    mine, other = await new_cifer(paused, alice, "mine"), await new_cifer(paused, alice, "other")
    filtered = await register(paused, alice, events=every)
    await update(paused, filtered, {"cifer_ids": [mine]}, alice, 200)
    unfiltered = await register(paused, alice, events=every)
    nothing = await register(paused, alice, events=every)
    await update(paused, nothing, {"cifer_ids": []}, alice, 200)
    for cid in (mine, other):
        await paused.call("POST", f"/v1/cifers/{cid}/rotate", json={}, headers=alice, expect=200)
    async with transaction_on(paused.settings) as session:  # an event about no cifer, as the limiter emits it
        await events.emit(session, "quota.exceeded", owner_id="usr_alice", data={"principal": "usr_alice"})
    third = await new_cifer(paused, alice, "third")
    await update(paused, filtered, {"cifer_ids": None}, alice, 200)  # from now on: everything
    await paused.call("DELETE", f"/v1/cifers/{third}", headers={**alice, **REVOKE}, expect=200)
    assert await delivered_about(paused.settings, filtered) == [("cifer.rotated", mine), ("cifer.revoked", third)]
    assert await delivered_about(paused.settings, unfiltered) == [
        ("cifer.rotated", mine), ("cifer.rotated", other), ("quota.exceeded", None), ("cifer.created", third),
        ("cifer.revoked", third)]
    assert await delivered_about(paused.settings, nothing) == []


@contextlib.asynccontextmanager
async def transaction_on(settings: KeyServiceSettings):
    engine = create_engine(settings.database_url)
    try:
        async with sessions(engine).begin() as session:
            yield session
    finally:
        await engine.dispose()


# --- delivery ------------------------------------------------------------------------------

async def test_a_new_cifer_is_delivered_with_the_seeds_payload_and_signatures(fast, receivers):
    receiver = await receivers().start()
    alice = await fast.api_key("usr_alice")
    hook_id = await register(fast, alice, receiver.url)
    cifer_id = await new_cifer(fast, alice)
    await eventually(lambda: receiver.requests)
    headers, body = receiver.requests[0]
    payload = json.loads(body)
    assert list(payload) == ["id", "type", "created", "data"]  # seed §7.2
    assert payload["type"] == "cifer.created" and payload["id"].startswith("evt_")
    assert payload["data"] == {"cifer_id": cifer_id, "name": "my-encryption-key", "owner_id": "usr_alice"}
    assert abs(parse_time(payload["created"]) - utcnow()) < datetime.timedelta(minutes=1)
    assert headers["Content-Type"] == "application/json" and headers["X-Cifer-Event-Id"] == payload["id"]

    assert verify_webhook(body, headers["X-Cifer-Signature"], SECRET)
    assert verify_v2(body, headers["X-Cifer-Signature-V2"], SECRET)
    timestamp = int(headers["X-Cifer-Timestamp"])
    assert headers["X-Cifer-Signature-V2"].startswith(f"t={timestamp},v1=") and abs(timestamp - time.time()) < 60
    tampered = body.replace(b"usr_alice", b"usr_malle")
    assert not verify_webhook(tampered, headers["X-Cifer-Signature"], SECRET)
    assert not verify_v2(tampered, headers["X-Cifer-Signature-V2"], SECRET)
    assert not verify_webhook(body, headers["X-Cifer-Signature"], "another-secret-entirely")
    assert not verify_v2(body, headers["X-Cifer-Signature-V2"], SECRET, now=timestamp + 301)  # a replay, later

    [delivery] = await eventually(lambda: _delivered(fast, alice, hook_id))
    assert (delivery["event_id"], delivery["type"], delivery["attempts"]) == (payload["id"], "cifer.created", 1)
    assert delivery["last_error"] is None and delivery["next_attempt_at"] is None
    parse_time(delivery["delivered_at"])


async def _delivered(service, headers, hook_id) -> list[dict] | None:
    """The webhook's deliveries once every one of them has an outcome."""
    found = await deliveries(service, headers, hook_id)
    return found if found and all(d["status"] != "pending" for d in found) else None


async def assert_nothing_left_to_send(settings: KeyServiceSettings) -> None:
    """A dispatcher whose clock reads a day ahead, past every lease and retry: whatever is still
    pending, however far off its next attempt, it claims and sends at once. It must find nothing."""
    async with dispatchers(settings) as new:
        assert await new(clock=lambda: utcnow() + datetime.timedelta(days=1)).run_once() == 0


async def test_a_failing_receiver_gets_the_event_on_the_third_try(fast, receivers):
    receiver = await receivers(307, 500).start()  # a redirect is a failure, not followed
    alice = await fast.api_key("usr_alice")
    hook_id = await register(fast, alice, receiver.url)
    await new_cifer(fast, alice)
    [delivery] = await eventually(lambda: _delivered(fast, alice, hook_id))
    assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == ("delivered", 3, "HTTP 500")
    assert len(receiver.requests) == 3 and set(receiver.paths) == {"/hooks/cifer"}
    bodies = {body for _, body in receiver.requests}
    ids = {headers["X-Cifer-Event-Id"] for headers, _ in receiver.requests}
    assert len(bodies) == 1 and ids == {delivery["event_id"]}  # the same event, byte for byte
    for headers, body in receiver.requests:
        assert verify_webhook(body, headers["X-Cifer-Signature"], SECRET)
    await assert_nothing_left_to_send(fast.settings)
    assert len(receiver.requests) == 3


async def test_only_subscribed_events_are_delivered_and_a_deleted_webhook_gets_nothing(fast, receivers):
    receiver = await receivers().start()
    alice = await fast.api_key("usr_alice")
    hook_id = await register(fast, alice, receiver.url, events=["cifer.revoked"])
    cifer_id = await new_cifer(fast, alice)
    assert await deliveries(fast, alice, hook_id) == []  # cifer.created: not subscribed
    await fast.call("DELETE", f"/v1/cifers/{cifer_id}", headers={**alice, **REVOKE}, expect=200)
    await eventually(lambda: receiver.requests)
    assert json.loads(receiver.requests[0][1])["type"] == "cifer.revoked"
    await eventually(lambda: _delivered(fast, alice, hook_id))

    await fast.call("DELETE", f"/v1/webhooks/{hook_id}", headers=alice, expect=200)
    another = await new_cifer(fast, alice, "another")
    await fast.call("DELETE", f"/v1/cifers/{another}", headers={**alice, **REVOKE}, expect=200)
    await assert_nothing_left_to_send(fast.settings)
    assert len(receiver.requests) == 1
    assert len(await db_all(fast.settings, select(Delivery))) == 1


async def test_deleting_a_webhook_fails_its_pending_deliveries(fast, receivers):
    receiver = receivers()  # down
    alice = await fast.api_key("usr_alice")
    hook_id = await register(fast, alice, receiver.url)
    await new_cifer(fast, alice)
    await eventually(lambda: db_all(fast.settings, select(Delivery).where(Delivery.attempts >= 1)))
    await fast.call("DELETE", f"/v1/webhooks/{hook_id}", headers=alice, expect=200)
    [delivery] = await db_all(fast.settings, select(Delivery))
    assert (delivery.status, delivery.last_error) == ("failed", "webhook deleted")
    await receiver.start()
    await assert_nothing_left_to_send(fast.settings)
    assert receiver.requests == []


async def test_an_event_written_before_a_crash_arrives_once_after_a_restart(aiohttp_client, database_url, tmp_path,
                                                                           receivers):
    receiver = receivers()  # down while the first process lives
    settings = fast_settings(database_url, tmp_path)
    first = await start_service(aiohttp_client, settings)
    alice = await first.api_key("usr_alice")
    hook_id = await register(first, alice, receiver.url)
    await new_cifer(first, alice)
    await eventually(lambda: db_all(settings, select(Delivery).where(Delivery.attempts >= 1)))
    await first.client.close()  # the process is gone; the event lives only in the database

    second = await start_service(aiohttp_client, settings)
    await receiver.start()
    await eventually(lambda: receiver.requests)
    [delivery] = await eventually(lambda: _delivered(second, alice, hook_id))
    await assert_nothing_left_to_send(settings)
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert json.loads(body)["type"] == "cifer.created" and headers["X-Cifer-Event-Id"] == delivery["event_id"]
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 2


# --- the dispatcher alone, its clock in the test's hands -------------------------------------

@contextlib.asynccontextmanager
async def dispatchers(settings: KeyServiceSettings):
    """Makes Dispatchers on the service's database and webhooks key, as the app does."""
    engine = create_engine(settings.database_url)
    maker = sessions(engine)
    kek = open_kek(settings.kek, create=False)
    try:
        key = (await servicekeys.load(maker, kek))[servicekeys.WEBHOOKS]
    finally:
        kek.close()
    made: list[Dispatcher] = []

    def new(**options) -> Dispatcher:
        made.append(Dispatcher(maker, key, **{"allow_private_networks": True, **options}))
        return made[-1]

    try:
        yield new
    finally:
        for dispatcher in made:
            await dispatcher.close()
        await engine.dispose()


@pytest.fixture
async def paused(aiohttp_client, database_url, tmp_path):
    """A service whose own dispatcher never comes round: the test drives `run_once` itself."""
    return await start_service(aiohttp_client, fast_settings(database_url, tmp_path, webhook_poll_interval_s=3600))


async def test_retries_back_off_exponentially_then_give_up(paused, receivers):
    receiver = await receivers(500, 500, 500, 500).start()
    alice = await paused.api_key("usr_alice")
    await register(paused, alice, receiver.url)
    await new_cifer(paused, alice)
    now = [utcnow()]
    start = now[0]

    def at(seconds: float) -> None:
        now[0] = start + datetime.timedelta(seconds=seconds)

    async with dispatchers(paused.settings) as new:
        dispatcher = new(max_attempts=3, backoff_base_s=10, clock=lambda: now[0])
        assert await dispatcher.run_once() == 1  # attempt 1: 500
        at(7.9)  # the first retry waits 10 s, less up to 20% jitter
        assert await dispatcher.run_once() == 0
        at(10)
        assert await dispatcher.run_once() == 1  # attempt 2: 500; then 20 s, less jitter
        at(25.9)
        assert await dispatcher.run_once() == 0
        at(30)
        assert await dispatcher.run_once() == 1  # attempt 3: 500, and the last
        at(3600)
        assert await dispatcher.run_once() == 0
    [delivery] = await db_all(paused.settings, select(Delivery))
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "HTTP 500")
    assert len(receiver.requests) == 3


async def test_a_send_cut_off_midway_is_sent_again_only_when_its_lease_ends(paused, receivers):
    receiver = await receivers(hang_first=True).start()
    alice = await paused.api_key("usr_alice")
    await register(paused, alice, receiver.url)
    await new_cifer(paused, alice)
    async with dispatchers(paused.settings) as new:
        dying = asyncio.create_task(new(http_timeout_s=30).run_once())
        await eventually(lambda: receiver.requests)
        dying.cancel()  # the process dies mid-send: no outcome is recorded
        with contextlib.suppress(asyncio.CancelledError):
            await dying
        [leased] = await db_all(paused.settings, select(Delivery))
        assert (leased.status, leased.attempts) == ("pending", 1)
        assert leased.next_attempt_at > utcnow() + datetime.timedelta(seconds=30)
        assert await new().run_once() == 0  # another replica: the lease holds
        later = new(clock=lambda: utcnow() + datetime.timedelta(seconds=36))
        assert await later.run_once() == 1  # the lease has run out
    [delivery] = await db_all(paused.settings, select(Delivery))
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1]


async def test_replicas_claiming_at_once_send_each_delivery_once(paused, receivers):
    receiver = await receivers().start()
    alice = await paused.api_key("usr_alice")
    for n in range(4):
        await register(paused, alice, f"{receiver.url}?hook={n}")
    for n in range(3):
        await new_cifer(paused, alice, f"k{n}")  # 3 events x 4 webhooks
    async with dispatchers(paused.settings) as new:
        replicas = [new(batch_size=2) for _ in range(4)]
        while any(await asyncio.gather(*(replica.run_once() for replica in replicas))):
            pass
    sent = [(path, headers["X-Cifer-Event-Id"]) for path, (headers, _) in zip(receiver.paths, receiver.requests)]
    assert len(sent) == len(set(sent)) == 12
    assert {d.status for d in await db_all(paused.settings, select(Delivery))} == {"delivered"}


# --- the primitives ------------------------------------------------------------------------

def test_verify_v2_rejects_malformed_stale_and_foreign_signatures():
    body = b'{"id":"evt_1","type":"cifer.created","created":"2026-01-08T10:30:00Z","data":{}}'
    header = signature_v2(SECRET, body, timestamp=1_767_868_200)
    assert verify_v2(body, header, SECRET, now=1_767_868_200 + 300)
    assert verify_v2(body, f"{header},v1=00", SECRET, now=1_767_868_200)  # one of several signatures
    assert not verify_v2(body, header, SECRET, now=1_767_868_200 + 301)
    assert not verify_v2(body, header, SECRET, now=1_767_868_200 - 301)
    assert not verify_v2(body, header, "another-secret-entirely", now=1_767_868_200)
    forged = header.replace("t=1767868200", "t=1767868500")  # a fresh timestamp on an old signature
    assert not verify_v2(body, forged, SECRET, now=1_767_868_500)
    for bad in ("", "t=1767868200", header.split(",")[1], "t=x," + header.split(",")[1],
                f"t=1767868200,t=1767868200,{header.split(',')[1]}", "garbage"):
        assert not verify_v2(body, bad, SECRET, now=1_767_868_200), bad


def test_a_sealed_secret_opens_only_for_its_webhook_under_its_key():
    key = bytes(range(32))
    sealed = sealing.seal(key, "wh_one", SECRET)
    assert sealing.unseal(key, "wh_one", sealed) == SECRET
    assert sealing.seal(key, "wh_one", SECRET) != sealed  # a fresh nonce each time
    for wrong_key, hook_id, blob in [(key, "wh_two", sealed), (bytes(32), "wh_one", sealed),
                                     (key, "wh_one", sealed[:-1] + bytes([sealed[-1] ^ 1])), (key, "wh_one", b"")]:
        with pytest.raises(sealing.InvalidSealedSecret):
            sealing.unseal(wrong_key, hook_id, blob)


async def test_by_default_deliveries_never_reach_private_addresses(aiohttp_client, database_url, tmp_path, receivers):
    """SSRF: a webhook may not make the key service call into loopback, the cluster or a
    metadata endpoint, whether the URL names an IP or a host that resolves to one."""
    service = await start_service(aiohttp_client, fast_settings(database_url, tmp_path,
                                                                 webhook_allow_private_networks=False))
    receiver = await receivers().start()
    alice = await service.api_key("usr_alice")
    by_ip = await register(service, alice, receiver.url)
    by_name = await register(service, alice, receiver.url.replace("127.0.0.1", "localhost"))
    await new_cifer(service, alice)
    for hook_id in (by_ip, by_name):
        [delivery] = await eventually(lambda: _failed_once(service, alice, hook_id))
        assert delivery["last_error"] == "refused: not a public address"
    assert receiver.requests == []


async def _failed_once(service, headers, hook_id) -> list[dict] | None:
    found = await deliveries(service, headers, hook_id)
    return found if found and found[0]["last_error"] else None


def test_only_global_unicast_addresses_are_public():
    from cifer.webhooks.egress import is_public
    for private in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fc00::1",
                    "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"):
        assert not is_public(private), private
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert is_public(public), public
