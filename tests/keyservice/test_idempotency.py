"""X-Idempotency-Key on POST requests (seed §2.2), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from sqlalchemy import func, select

from cifer.keystore.config import FileKekSettings
from cifer_keyservice.app import create_app
from cifer_keyservice.db.engine import create_engine
from cifer_keyservice.db.models import IdempotencyRecord
from cifer_keyservice.idempotency import IDEMPOTENCY, fingerprint_of
from cifer_keyservice.settings import KeyServiceSettings
from keyrelease_helpers import decap_body
from keyservice.service import KeyService

BODY = json.dumps({"name": "payments"}).encode()
JSON = {"Content-Type": "application/json"}


async def post(service: KeyService, path: str, headers, key: str | None, body: bytes = BODY):
    """(status, body bytes, replayed?) of one POST."""
    extra = {} if key is None else {"X-Idempotency-Key": key}
    resp = await service.client.post(path, data=body, headers={**headers, **JSON, **extra})
    return resp.status, await resp.read(), resp.headers.get("Idempotent-Replayed")


async def cifers_of(service: KeyService, headers) -> list[str]:
    _, body = await service.call("GET", "/v1/cifers", headers=headers, expect=200)
    return [c["cifer_id"] for c in body["data"]["cifers"]]


async def records(service: KeyService) -> int:
    engine = create_engine(service.settings.database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(IdempotencyRecord))).scalar_one()
    finally:
        await engine.dispose()


async def test_a_repeated_request_is_replayed_byte_for_byte_and_done_once(keyservice):
    alice = await keyservice.api_key("usr_alice")
    status, first, replayed = await post(keyservice, "/v1/cifers", alice, "order-42")
    assert (status, replayed) == (201, None)
    status, again, replayed = await post(keyservice, "/v1/cifers", alice, "order-42")
    assert (status, again, replayed) == (201, first, "true")
    assert await cifers_of(keyservice, alice) == [json.loads(first)["data"]["cifer_id"]]


async def test_a_client_error_is_kept_and_replayed_too(keyservice):
    alice = await keyservice.api_key("usr_alice")
    path = "/v1/cifers/cif_" + "0" * 24 + "/rotate"
    status, first, _ = await post(keyservice, path, alice, "rotate-1", b"{}")
    assert status == 404
    assert await post(keyservice, path, alice, "rotate-1", b"{}") == (404, first, "true")


async def test_the_same_key_with_another_request_is_a_400(keyservice):
    alice = await keyservice.api_key("usr_alice")
    await post(keyservice, "/v1/cifers", alice, "k1")
    for path, body in (("/v1/cifers", b'{"name": "other"}'), ("/v1/cifers/cif_" + "0" * 24 + "/rotate", BODY)):
        status, answer, replayed = await post(keyservice, path, alice, "k1", body)
        error = json.loads(answer)["error"]
        assert (status, replayed, error["code"]) == (400, None, "INVALID_REQUEST")
        assert error["details"] == {"header": "X-Idempotency-Key"}
    assert len(await cifers_of(keyservice, alice)) == 1


async def test_principals_do_not_share_keys(keyservice):
    alice = await keyservice.api_key("usr_alice")
    bob = await keyservice.api_key("usr_bob")
    _, for_alice, _ = await post(keyservice, "/v1/cifers", alice, "same-key")
    status, for_bob, replayed = await post(keyservice, "/v1/cifers", bob, "same-key")
    assert (status, replayed) == (201, None)
    assert json.loads(for_bob)["data"]["owner_id"] == "usr_bob" != json.loads(for_alice)["data"]["owner_id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_a_malformed_key_is_a_400_naming_the_header(keyservice, key):
    alice = await keyservice.api_key("usr_alice")
    resp = await keyservice.client.post("/v1/cifers", data=BODY,
                                        headers={**alice, **JSON, "X-Idempotency-Key": key.encode().decode("latin-1")})
    body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["details"] == {"header": "X-Idempotency-Key"}
    assert await cifers_of(keyservice, alice) == []


async def test_the_longest_key_is_accepted(keyservice):
    alice = await keyservice.api_key("usr_alice")
    key = "~ " + "k" * 253
    assert (await post(keyservice, "/v1/cifers", alice, key))[0] == 201
    assert (await post(keyservice, "/v1/cifers", alice, key))[2] == "true"


async def test_a_key_still_in_progress_is_a_400(keyservice):
    alice = await keyservice.api_key("usr_alice")
    store = keyservice.client.app[IDEMPOTENCY]
    assert await store.claim("usr_alice", "busy", fingerprint_of("POST", "/v1/cifers", BODY)) is None
    status, answer, _ = await post(keyservice, "/v1/cifers", alice, "busy")
    error = json.loads(answer)["error"]
    assert (status, error["message"], error["details"]) == (
        400, "a request with this idempotency key is in progress", {"header": "X-Idempotency-Key"})
    assert await cifers_of(keyservice, alice) == []


async def test_concurrent_requests_with_one_key_create_one_cifer(keyservice):
    alice = await keyservice.api_key("usr_alice")
    answers = await asyncio.gather(*(post(keyservice, "/v1/cifers", alice, "race") for _ in range(4)))
    created = [a for a in answers if a[0] == 201]
    assert created and all(a[1] == created[0][1] for a in created)
    assert all(a[0] in (201, 400) for a in answers)
    assert len(await cifers_of(keyservice, alice)) == 1


async def test_data_keys_are_never_kept(keyservice):
    alice = await keyservice.api_key("usr_alice")
    body = json.dumps(decap_body(["eA==", "eA=="])).encode()
    for _ in range(2):
        status, _, replayed = await post(keyservice, "/v1/decapsulate", alice, "decap-1", body)
        assert (status, replayed) == (200, None)
    assert await records(keyservice) == 0


async def test_a_request_without_a_key_is_not_kept(keyservice):
    alice = await keyservice.api_key("usr_alice")
    await post(keyservice, "/v1/cifers", alice, None)
    await post(keyservice, "/v1/cifers", alice, None)
    assert len(await cifers_of(keyservice, alice)) == 2 and await records(keyservice) == 0


async def test_a_response_older_than_the_ttl_is_not_replayed(aiohttp_client, database_url, tmp_path):
    settings = KeyServiceSettings(database_url=database_url, kek=FileKekSettings(tmp_path / "kek.key"),
                                  idempotency_ttl_s=1)
    audit_lines = io.StringIO()
    service = KeyService(await aiohttp_client(create_app(settings, audit_stream=audit_lines)), settings, audit_lines)
    alice = await service.api_key("usr_alice")
    _, first, _ = await post(service, "/v1/cifers", alice, "short-lived")
    await asyncio.sleep(1.1)
    status, second, replayed = await post(service, "/v1/cifers", alice, "short-lived")
    assert (status, replayed) == (201, None) and second != first
    assert len(await cifers_of(service, alice)) == 2
    assert (await post(service, "/v1/cifers", alice, "short-lived"))[1:] == (second, "true")  # the new one is kept
