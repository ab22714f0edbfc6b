"""What the operator needs from the SDK, over real HTTP on loopback against `tests/sdk_standin.py`:
updates (PATCH) of CIFERs and webhooks, a webhook's filter by CIFER, idempotency keys the caller
chooses, and a credential that changes between requests."""

from __future__ import annotations

import json

import pytest
from sdk_standin import API_KEY, envelope, error

from cifer import AsyncCiferClient, Webhook
from cifer.sdk.resources import UNCHANGED

HOOK_ID = "wh_" + "b" * 24
ONE, TWO = "cif_standin00000007", "cif_standin00000008"


def sent_json(seen) -> dict:
    return json.loads(seen.body)


async def test_update_sends_a_patch_of_only_the_given_fields(client, standin):
    cifer = await client.cifers.create(name="k", metadata={"team": "a"})
    updated = await client.cifers.update(cifer.id, description="new", policy={"auto_rotate_days": 30,
                                                                              "re_encryption_window_days": 3})
    (sent,) = standin.seen("PATCH", f"/v1/cifers/{cifer.id}")
    assert sent_json(sent) == {"description": "new", "policy": {"auto_rotate_days": 30, "re_encryption_window_days": 3}}
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Idempotency-Key"].startswith("idem_")  # a PATCH is replayable like a POST
    assert (updated.id, updated.name, updated.description, updated.metadata) == (cifer.id, "k", "new", {"team": "a"})
    assert updated.policy["re_encryption_window_days"] == 3
    await client.cifers.update(cifer.id, name="renamed", metadata={})
    assert sent_json(standin.seen("PATCH", f"/v1/cifers/{cifer.id}")[1]) == {"name": "renamed", "metadata": {}}


async def test_a_given_idempotency_key_is_sent_instead_and_the_same_on_every_retry(client, standin, sleeps):
    standin.fail_next("POST", "/v1/cifers", lambda: error("SERVICE_UNAVAILABLE", 503), times=2)
    cifer = await client.cifers.create(name="k", idempotency_key="ciferkey/default/payments/create")
    assert [r.headers["X-Idempotency-Key"] for r in standin.seen("POST", "/v1/cifers")] == [
        "ciferkey/default/payments/create"] * 3
    assert len(sleeps) == 2
    await client.cifers.rotate(cifer.id, idempotency_key="rotate-1")
    await client.cifers.update(cifer.id, name="n", idempotency_key="update-1")
    await client.webhooks.create("https://app.example/hook", ["cifer.created"], "whsec_0123456789abcdef",
                                 idempotency_key="hook-1")
    await client.webhooks.update(HOOK_ID, url="https://app.example/other", idempotency_key="hook-update-1")
    assert [r.headers["X-Idempotency-Key"] for r in standin.requests[3:]] == [
        "rotate-1", "update-1", "hook-1", "hook-update-1"]


@pytest.mark.parametrize("key", ["", " padded", "padded ", "x" * 256, "caf\u00e9", "line\nbreak", 42])
async def test_a_key_the_server_would_refuse_is_refused_before_sending(client, standin, key):
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.cifers.create(name="k", idempotency_key=key)
    assert standin.requests == []


async def test_the_longest_key_the_server_takes_is_sent(client, standin):
    key = "k" * 255
    await client.cifers.create(name="k", idempotency_key=key)
    assert standin.requests[0].headers["X-Idempotency-Key"] == key


async def test_a_webhook_filter_by_cifer_is_sent_and_read_back(client, standin):
    hook = await client.webhooks.create("https://app.example/hook", ["cifer.rotated"], "whsec_0123456789abcdef",
                                        cifer_ids=(ONE, TWO))
    assert isinstance(hook, Webhook) and hook.cifer_ids == [ONE, TWO]
    assert sent_json(standin.seen("POST", "/v1/webhooks")[0])["cifer_ids"] == [ONE, TWO]
    plain = await client.webhooks.create("https://app.example/hook", ["cifer.rotated"], "whsec_0123456789abcdef")
    assert "cifer_ids" not in sent_json(standin.seen("POST", "/v1/webhooks")[1]) and plain.cifer_ids is None
    with pytest.raises(TypeError):
        await client.webhooks.create("https://app.example/hook", ["cifer.rotated"], "whsec_0123456789abcdef",
                                     cifer_ids=ONE)  # one id, not a sequence of its characters


async def test_webhook_update_leaves_out_what_is_not_given_and_none_clears_the_filter(client, standin):
    kept = await client.webhooks.update(HOOK_ID, events=["cifer.revoked"], secret="whsec_rotated-0123456789")
    cleared = await client.webhooks.update(HOOK_ID, cifer_ids=None)
    narrowed = await client.webhooks.update(HOOK_ID, url="https://app.example/new", cifer_ids=[TWO])
    bodies = [sent_json(seen) for seen in standin.seen("PATCH", f"/v1/webhooks/{HOOK_ID}")]
    assert bodies == [
        {"events": ["cifer.revoked"], "secret": "whsec_rotated-0123456789"},
        {"cifer_ids": None},
        {"url": "https://app.example/new", "cifer_ids": [TWO]},
    ]
    assert kept.cifer_ids == ["cif_standin00000001"] and kept.events == ["cifer.revoked"]
    assert cleared.cifer_ids is None and narrowed.cifer_ids == [TWO] and narrowed.url == "https://app.example/new"
    assert repr(UNCHANGED) == "UNCHANGED"


async def test_a_credential_function_is_asked_before_every_request(standin, sleeps):
    tokens = iter(["sk_old_token", API_KEY, API_KEY, "", API_KEY])
    asked = []

    def current_token() -> str:
        asked.append(1)
        return next(tokens)

    standin.fail_next("GET", "/v1/cifers", lambda: error("SERVICE_UNAVAILABLE", 503))
    cifer_id = standin.add_cifer()
    standin.fail_next("GET", f"/v1/cifers/{cifer_id}", lambda: envelope(standin.cifers[cifer_id]))  # takes anyone
    async with AsyncCiferClient(current_token, base_url=standin.url, sleep=sleeps) as client:
        await client.cifers.list()  # the scripted 503 (old token), then the retry with the rotated one
        await client.cifers.list()
        await client.cifers.get(cifer_id)  # "" means: no Authorization header
        await client.cifers.list()
    assert [r.headers.get("Authorization") for r in standin.requests] == [
        "Bearer sk_old_token", f"Bearer {API_KEY}", f"Bearer {API_KEY}", None, f"Bearer {API_KEY}"]
    assert len(asked) == 5


async def test_a_credential_function_returning_no_string_is_a_type_error(standin):
    async with AsyncCiferClient(lambda: b"bytes", base_url=standin.url) as client:
        with pytest.raises(TypeError, match="api_key"):
            await client.cifers.list()
    with pytest.raises(TypeError, match="api_key"):
        AsyncCiferClient(42, base_url=standin.url)
    assert "sk_" not in repr(AsyncCiferClient(lambda: API_KEY, base_url=standin.url)._transport.settings)
