"""The SDK's JSON calls over real HTTP on loopback.

The server side is `tests/sdk_standin.py`: a small aiohttp server that stands in for the
sidecar (the seed's envelope, endpoints and error bodies, no cryptography), so what is checked
here is what the SDK sends, how it reads answers, and how it fails and retries.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from sdk_standin import API_KEY, Standin, envelope, error, toy_envelope

from cifer import (
    AsyncCiferClient, AuthenticationError, CiferConnectionError, CiferError, CiferRevokedError, InternalError,
    InvalidCiferIdError, InvalidCiphertextError, InvalidRequestError, NotFoundError, PermissionDeniedError,
    RateLimitError, ServiceUnavailableError, UnauthorizedDecryptError,
)
from cifer.sdk.retry import RetryPolicy
from ports import free_port


async def test_create_returns_the_cifer_with_id_and_sends_key_and_idempotency_key(client, standin):
    cifer = await client.cifers.create(name="my-encryption-key", description="d", metadata={"team": "backend"},
                                       policy={"auto_rotate_days": 90}, algorithm="X-Wing")
    assert cifer.id.startswith("cif_standin") and cifer.id == cifer.cifer_id == cifer.raw["cifer_id"]
    assert (cifer.name, cifer.status, cifer.key_version, cifer.key_algorithm) == ("my-encryption-key", "active", 1, "X-Wing")
    assert cifer.encapsulation_key == b"DER" * 8
    assert cifer.created_at == datetime.datetime(2026, 1, 8, 10, 30, tzinfo=datetime.UTC)
    (sent,) = standin.seen("POST", "/v1/cifers")
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["X-Idempotency-Key"].startswith("idem_") and len(sent.headers["X-Idempotency-Key"]) == 37
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == (b'{"name": "my-encryption-key", "description": "d", "algorithm": "X-Wing", '
                         b'"metadata": {"team": "backend"}, "policy": {"auto_rotate_days": 90}}')


async def test_every_post_gets_its_own_idempotency_key_and_gets_none(client, standin):
    first = await client.cifers.create(name="a")
    await client.cifers.create(name="b")
    await client.cifers.get(first.id)
    keys = [r.headers.get("X-Idempotency-Key") for r in standin.requests]
    assert keys[0] != keys[1] and None not in keys[:2]
    assert keys[2] is None


async def test_get_list_and_pagination(client, standin):
    ids = [(await client.cifers.create(name=f"k{i}")).id for i in range(3)]
    got = await client.cifers.get(ids[0])
    assert got.statistics["total_encryptions"] == 3
    page = await client.cifers.list(limit=2)
    assert [c.id for c in page] == ids[:2] and page.has_more and page.next_cursor == ids[1]
    rest = await client.cifers.list(limit=2, cursor=page.next_cursor, status="active")
    assert [c.id for c in rest] == ids[2:] and not rest.has_more and rest.next_cursor is None
    assert standin.requests[-1].query == {"limit": "2", "cursor": ids[1], "status": "active"}


async def test_rotate_sends_the_window_and_revoke_confirms(client, standin):
    cifer = await client.cifers.create(name="k")
    rotation = await client.cifers.rotate(cifer.id, re_encryption_window_days=7)
    assert (rotation.old_key_version, rotation.new_key_version) == (1, 2)
    assert rotation.re_encryption_deadline == datetime.datetime(2026, 1, 15, 10, 30, tzinfo=datetime.UTC)
    assert standin.seen("POST", f"/v1/cifers/{cifer.id}/rotate")[0].body == b'{"re_encryption_window_days": 7}'
    revocation = await client.cifers.revoke(cifer.id)
    assert revocation.status == "revoked" and revocation.warning
    assert standin.seen("DELETE", f"/v1/cifers/{cifer.id}")[0].headers["X-Confirm-Revocation"] == "true"


async def test_an_id_cannot_reach_another_path(client, standin):
    with pytest.raises(NotFoundError):
        await client.cifers.get("../keys/x")
    assert standin.requests[-1].path == "/v1/cifers/../keys/x"  # one segment, percent-encoded on the wire
    assert standin.seen("GET", "/v1/keys/x") == []


async def test_public_key_and_webhooks(client, standin):
    cifer = await client.cifers.create(name="k")
    key = await client.keys.get(cifer.id)
    assert (key.cifer_id, key.encapsulation_key, key.key_version, key.algorithm) == (cifer.id, b"DER" * 8, 1, "ML-KEM-768")
    hook = await client.webhooks.create("https://app.example/hook", ["cifer.created"], "whsec_0123456789abcdef")
    assert hook.id.startswith("wh_") and hook.events == ["cifer.created"]
    assert standin.seen("POST", "/v1/webhooks")[0].body == (
        b'{"url": "https://app.example/hook", "events": ["cifer.created"], "secret": "whsec_0123456789abcdef"}')
    assert [h.id for h in await client.webhooks.list()] == [hook.id]
    assert (await client.webhooks.get(hook.id)).url == "https://x.example/h"
    assert (await client.webhooks.delete(hook.id)).deleted is True


async def test_encrypt_sends_base64_and_returns_the_raw_envelope(client, standin):
    cifer = await client.cifers.create(name="k")
    encrypted = await client.encrypt(cifer.id, b"secret data", metadata={"filename": "a.txt"})
    assert encrypted.ciphertext == toy_envelope(cifer.id, b"secret data", {"filename": "a.txt"})
    assert encrypted.envelope_size == len(encrypted.ciphertext)
    assert (encrypted.algorithm.kem, encrypted.algorithm.aead) == ("ML-KEM-768", "AES-256-GCM")
    assert encrypted.metadata == {"filename": "a.txt"}
    assert standin.seen("POST", "/v1/encrypt")[0].body == (
        b'{"cifer_id": "%s", "plaintext": "c2VjcmV0IGRhdGE=", "encoding": "base64", '
        b'"metadata": {"filename": "a.txt"}}' % cifer.id.encode())


@pytest.mark.parametrize("form", ["bytes", "base64 text", "result"])
async def test_decrypt_takes_the_envelope_in_any_form_it_is_held(client, form):
    cifer = await client.cifers.create(name="k")
    encrypted = await client.encrypt(cifer.id, b"secret data", metadata={"a": "b"})
    given = {"bytes": encrypted.ciphertext, "base64 text": base64.b64encode(encrypted.ciphertext).decode(),
             "result": encrypted}[form]
    decrypted = await client.decrypt(given)
    assert (decrypted.plaintext, decrypted.cifer_id, decrypted.key_version, decrypted.metadata) == (
        b"secret data", cifer.id, 1, {"a": "b"})
    assert "secret data" not in repr(decrypted)


async def test_decrypt_refuses_text_that_is_not_base64_before_sending(client, standin):
    with pytest.raises(InvalidCiphertextError):
        await client.decrypt("not base64!")
    assert standin.requests == []


async def test_plaintext_must_be_bytes(client):
    with pytest.raises(TypeError):
        await client.encrypt("cif_abcdefghijkl", "text")


async def test_without_a_key_no_authorization_header_is_sent(aiohttp_server, monkeypatch):
    fake = Standin(api_key=None)
    server = await aiohttp_server(fake.app())
    monkeypatch.delenv("CIFER_API_KEY", raising=False)
    monkeypatch.setenv("CIFER_PROXY_URL", str(server.make_url("/v1")))  # the seed's form, with /v1
    async with AsyncCiferClient() as client:
        await client.cifers.create(name="k")
    assert "Authorization" not in fake.requests[0].headers


async def test_the_key_comes_from_the_environment(standin, monkeypatch):
    monkeypatch.setenv("CIFER_API_KEY", API_KEY)
    async with AsyncCiferClient(base_url=standin.url) as client:
        await client.cifers.create(name="k")
    assert standin.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


SEED_ERRORS = [
    ("INVALID_REQUEST", 400, InvalidRequestError),
    ("INVALID_CIFER_ID", 400, InvalidCiferIdError),
    ("INVALID_CIPHERTEXT", 400, InvalidCiphertextError),
    ("UNAUTHORIZED", 401, AuthenticationError),
    ("FORBIDDEN", 403, PermissionDeniedError),
    ("UNAUTHORIZED_DECRYPT", 403, UnauthorizedDecryptError),
    ("NOT_FOUND", 404, NotFoundError),
    ("CIFER_REVOKED", 410, CiferRevokedError),
    ("RATE_LIMIT_EXCEEDED", 429, RateLimitError),
    ("INTERNAL_ERROR", 500, InternalError),
    ("SERVICE_UNAVAILABLE", 503, ServiceUnavailableError),
]


@pytest.mark.parametrize(("code", "status", "cls"), SEED_ERRORS)
async def test_each_error_code_raises_its_class(standin, code, status, cls):
    standin.fail_next("GET", "/v1/cifers/cif_abcdefghijkl",
                      lambda: error(code, status, "told by server", {"cifer_id": "cif_abcdefghijkl"}))
    async with AsyncCiferClient(API_KEY, base_url=standin.url, max_retries=0) as client:
        with pytest.raises(cls) as caught:
            await client.cifers.get("cif_abcdefghijkl")
    err = caught.value
    assert type(err) is cls and isinstance(err, CiferError)
    assert (err.code, err.status, err.message, err.request_id) == (code, status, "told by server", "req_err")
    assert err.details == {"cifer_id": "cif_abcdefghijkl"}


async def test_unauthorized_decrypt_names_the_cifer(client, standin):
    standin.fail_next("POST", "/v1/decrypt", lambda: error("UNAUTHORIZED_DECRYPT", 403, "not yours",
                                                           {"cifer_id": "cif_theirs123456", "owner_id": "usr_x"}))
    with pytest.raises(UnauthorizedDecryptError) as caught:
        await client.decrypt(b"CIFR")
    assert caught.value.cifer_id == "cif_theirs123456"


async def test_an_unknown_code_is_a_plain_cifer_error(client, standin):
    standin.fail_next("GET", "/v1/cifers", lambda: error("QUOTA_EXCEEDED", 402, "pay up"))
    with pytest.raises(CiferError) as caught:
        await client.cifers.list()
    assert type(caught.value) is CiferError and caught.value.code == "QUOTA_EXCEEDED"


async def test_a_body_that_is_not_the_seeds_error_is_typed_by_status(standin):
    from aiohttp import web

    standin.fail_next("GET", "/v1/cifers", lambda: web.Response(status=502, text="<html>bad gateway</html>"))
    async with AsyncCiferClient(API_KEY, base_url=standin.url, max_retries=0) as client:
        with pytest.raises(ServiceUnavailableError) as caught:
            await client.cifers.list()
    assert caught.value.status == 502


async def test_rate_limit_is_retried_after_retry_after_with_the_same_idempotency_key(client, standin, sleeps):
    standin.fail_next("POST", "/v1/cifers", lambda: error("RATE_LIMIT_EXCEEDED", 429, headers={"Retry-After": "7"}),
                      times=2)
    cifer = await client.cifers.create(name="k")
    assert cifer.name == "k"
    assert len(sleeps) == 2 and all(s >= 7 for s in sleeps) and all(s <= 7.5 for s in sleeps)
    keys = {r.headers["X-Idempotency-Key"] for r in standin.seen("POST", "/v1/cifers")}
    assert len(standin.seen("POST", "/v1/cifers")) == 3 and len(keys) == 1


async def test_retry_after_may_come_in_the_details(client, standin, sleeps):
    standin.fail_next("GET", "/v1/cifers", lambda: error("RATE_LIMIT_EXCEEDED", 429, details={"retry_after": 4}))
    await client.cifers.list()
    assert len(sleeps) == 1 and sleeps[0] >= 4


async def test_unavailable_backs_off_exponentially_then_gives_up(standin, sleeps):
    standin.fail_next("GET", "/v1/cifers", lambda: error("SERVICE_UNAVAILABLE", 503), times=10)
    policy = RetryPolicy(max_retries=4, initial_backoff_s=1.0, max_backoff_s=5.0)
    async with AsyncCiferClient(API_KEY, base_url=standin.url, retry=policy, sleep=sleeps) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.cifers.list()
    assert len(standin.requests) == 5
    steps = [1.0, 2.0, 4.0, 5.0]  # doubling, capped; each wait is between half the step and the step
    assert all(step / 2 <= waited <= step for waited, step in zip(sleeps, steps, strict=True))


async def test_a_long_retry_after_goes_to_the_caller_without_waiting(client, standin, sleeps):
    standin.fail_next("POST", "/v1/cifers", lambda: error("RATE_LIMIT_EXCEEDED", 429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as caught:
        await client.cifers.create(name="k")
    assert caught.value.retry_after == 3600 and sleeps == []
    assert len(standin.requests) == 1


@pytest.mark.parametrize(("code", "status"), [("INVALID_REQUEST", 400), ("NOT_FOUND", 404), ("INTERNAL_ERROR", 500)])
async def test_final_answers_are_not_retried(client, standin, sleeps, code, status):
    standin.fail_next("GET", "/v1/cifers", lambda: error(code, status), times=5)
    with pytest.raises(CiferError):
        await client.cifers.list()
    assert len(standin.requests) == 1 and sleeps == []


async def test_no_answer_is_a_connection_error_after_retries_and_never_shows_the_key(sleeps):
    url = f"http://127.0.0.1:{free_port()}"
    async with AsyncCiferClient(API_KEY, base_url=url, max_retries=2, sleep=sleeps) as client:
        with pytest.raises(CiferConnectionError) as caught:
            await client.cifers.create(name="k")
    assert isinstance(caught.value, ConnectionError) and caught.value.code == "CONNECTION_ERROR"
    assert len(sleeps) == 2
    assert url in str(caught.value) and API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)


async def test_an_answer_that_is_not_an_envelope_is_an_invalid_response(client, standin):
    from aiohttp import web

    standin.fail_next("GET", "/v1/cifers", lambda: web.json_response({"cifers": []}))
    with pytest.raises(CiferError) as caught:
        await client.cifers.list()
    assert caught.value.code == "INVALID_RESPONSE"


async def test_extra_fields_survive_in_raw(client, standin):
    standin.fail_next("GET", "/v1/keys/cif_abcdefghijkl", lambda: envelope({
        "cifer_id": "cif_abcdefghijkl", "encapsulation_key": "AAEC", "key_version": 3, "algorithm": "X-Wing",
        "valid_until": None, "new_field": 42}))
    key = await client.keys.get("cif_abcdefghijkl")
    assert key.encapsulation_key == b"\x00\x01\x02" and key.raw["new_field"] == 42


async def test_a_closed_client_refuses_calls(standin):
    client = AsyncCiferClient(API_KEY, base_url=standin.url)
    await client.close()
    with pytest.raises(RuntimeError):
        await client.cifers.list()


async def test_redirects_are_not_followed_so_the_key_stays_here(client, standin):
    from aiohttp import web

    standin.fail_next("GET", "/v1/cifers", lambda: web.Response(status=307, headers={"Location": "http://example.com/"}))
    with pytest.raises(CiferError) as caught:
        await client.cifers.list()
    assert (caught.value.code, caught.value.status) == ("HTTP_307", 307) and len(standin.requests) == 1
