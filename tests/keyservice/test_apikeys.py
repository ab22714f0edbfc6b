"""API keys at the service: revocation takes effect within `api_key_cache_s`, and only keys
that verified are ever remembered."""

from __future__ import annotations

import asyncio
import dataclasses

from cifer_keyservice.app import create_app

from keyservice.helpers import revoke_api_keys_of


async def _service_with_cache(aiohttp_client, keyservice, cache_s: float):
    settings = dataclasses.replace(keyservice.settings, api_key_cache_s=cache_s)
    return await aiohttp_client(create_app(settings))


async def _status(client, headers) -> int:
    async with client.get("/v1/cifers", headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_without_a_cache_a_revoked_key_is_refused_at_once(keyservice, aiohttp_client):
    client = await _service_with_cache(aiohttp_client, keyservice, 0)
    alice = await keyservice.api_key("usr_alice")
    assert await _status(client, alice) == 200
    await revoke_api_keys_of(keyservice.settings.database_url, "usr_alice")  # as `cifer keyservice apikey revoke` does
    assert await _status(client, alice) == 401


async def test_a_revoked_key_works_no_longer_than_the_cache_window(keyservice, aiohttp_client):
    client = await _service_with_cache(aiohttp_client, keyservice, 0.5)
    alice = await keyservice.api_key("usr_alice")
    assert await _status(client, alice) == 200
    await revoke_api_keys_of(keyservice.settings.database_url, "usr_alice")
    assert await _status(client, alice) == 200  # remembered: the documented window
    await asyncio.sleep(0.6)
    assert await _status(client, alice) == 401
    assert await _status(client, alice) == 401  # a refusal is not remembered as a success


async def test_a_key_created_after_a_refusal_is_accepted_at_once(keyservice, aiohttp_client):
    """Unknown keys are looked up every time: nothing negative is cached."""
    client = await _service_with_cache(aiohttp_client, keyservice, 60)
    assert await _status(client, {"Authorization": "Bearer sk_test_" + "a" * 56}) == 401
    bob = await keyservice.api_key("usr_bob")
    assert await _status(client, bob) == 200


async def test_whoami_names_the_principal_and_its_scopes(keyservice):
    alice = await keyservice.api_key("usr_alice", scopes=("encrypt", "decrypt"))
    _, body = await keyservice.call("GET", "/v1/whoami", headers=alice, expect=200)
    assert body["data"] == {"principal": "usr_alice", "kind": "api_key", "scopes": ["decrypt", "encrypt"]}
    resp, body = await keyservice.call("GET", "/v1/whoami")
    assert resp.status == 401 and body["error"]["code"] == "UNAUTHORIZED"
