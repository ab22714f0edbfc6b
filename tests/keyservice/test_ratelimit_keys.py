"""A cifer's own rate limits (`policy.rate_limits`, issue 13): counted per principal and cifer on
top of the principal's limits, refused with 429 and headers describing the key's window, all or
nothing in a batch; with counters in the database (SQLite, PostgreSQL) and in Redis."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from cifer.envelope import encrypt
from cifer_keyservice.ratelimit import RATE_LIMITER
from cifer_keyservice.settings import RateLimits
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient
from keyservice.test_ratelimit import (  # noqa: F401 - limited and redis_prefix are fixtures
    REDIS_URL, T0, Clock, limited, quota_events, rate_headers, redis_prefix)
from keyservice.test_serviceaccounts import bearer, start_with_token_review

DEFAULTS = RateLimits()


async def headers_of(service, cifer_id: str, n: int) -> list[str]:
    to = await recipient(service, cifer_id)
    return [b64(header_of(encrypt(to, b"row %d" % i))) for i in range(n)]


async def decap(service, headers, auth, expect):
    return await service.call("POST", "/v1/decapsulate", json=decap_body(headers), headers=auth, expect=expect)


def assert_refused_by_key(resp, body, cifer_id: str, *, limit: int, reset: int, retry_after: int, window: str,
                          remaining: int = 0):
    assert rate_headers(resp) == (limit, remaining, reset)
    assert resp.headers["Retry-After"] == str(retry_after)
    assert body["error"] == {
        "code": "RATE_LIMIT_EXCEEDED", "message": f"Rate limit exceeded. Please retry after {retry_after} seconds.",
        "details": {"limit": limit, "window": window, "retry_after": retry_after, "cifer_id": cifer_id},
        "documentation_url": "https://docs.cifer.io/errors/RATE_LIMIT_EXCEEDED",
    }


async def test_a_pods_decrypts_of_a_key_stop_at_its_workload_limit_while_another_key_still_opens(
        aiohttp_client, kube, tmp_path):
    service = await start_with_token_review(aiohttp_client, kube, tmp_path)
    service.client.app[RATE_LIMITER].clock = Clock(T0 + 15)
    workload = f"reports-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    access = {"allowed_principals": [f"system:serviceaccount:default:{workload}"]}
    alice = await service.api_key("usr_alice")
    limited_key = await new_cifer(service, alice, policy={**access, "rate_limits": {"workload_decrypt": "3/60"}})
    open_key = await new_cifer(service, alice, policy=access)
    limited_headers = await headers_of(service, limited_key, 4)
    pod = bearer(kube.create_token("default", workload, audience="cifer"))

    for n, header in enumerate(limited_headers[:3]):
        resp, body = await decap(service, [header], pod, 200)
        assert body["data"]["results"][0]["success"] is True
        assert rate_headers(resp) == (3, 2 - n, int(T0) + 60)  # the key's window has the least left
    resp, body = await decap(service, [limited_headers[3]], pod, 429)
    assert_refused_by_key(resp, body, limited_key, limit=3, reset=int(T0) + 60, retry_after=45, window="1 minute")

    resp, body = await decap(service, await headers_of(service, open_key, 1), pod, 200)
    assert body["data"]["results"][0]["success"] is True
    limit = DEFAULTS.workload_decrypt.limit
    assert rate_headers(resp) == (limit, limit - 4, int(T0) + 60)  # the refused header was not counted


async def test_an_api_keys_decrypts_of_a_key_stop_at_its_decrypt_limit_and_a_batch_is_refused_whole(limited):
    service, clock = await limited(DEFAULTS)
    alice = await service.api_key("usr_alice")
    capped = await new_cifer(service, alice, policy={"rate_limits": {"decrypt": "3/3600"}})
    free = await new_cifer(service, alice)
    capped_headers, free_headers = await headers_of(service, capped, 5), await headers_of(service, free, 2)

    resp, body = await decap(service, [capped_headers[0], free_headers[0], capped_headers[1]], alice, 200)
    assert [r["success"] for r in body["data"]["results"]] == [True] * 3
    assert rate_headers(resp) == (3, 1, int(T0) + 3600)
    # Two headers of the capped key with one left: the whole batch is refused, nothing counted.
    resp, body = await decap(service, [free_headers[1], capped_headers[2], capped_headers[3]], alice, 429)
    assert_refused_by_key(resp, body, capped, limit=3, reset=int(T0) + 3600, retry_after=3585, window="1 hour",
                          remaining=1)
    resp, body = await decap(service, [free_headers[1]], alice, 200)
    assert rate_headers(resp) == (100, 96, int(T0) + 60)  # 3 + this one: the refused batch cost nothing
    resp, body = await decap(service, [capped_headers[2]], alice, 200)
    assert rate_headers(resp) == (3, 0, int(T0) + 3600)
    resp, body = await decap(service, [capped_headers[3]], alice, 429)
    assert body["error"]["details"]["cifer_id"] == capped
    [(owner, payload)] = await quota_events(service.settings)  # the key's window's first refusal, once
    assert owner == "usr_alice" and payload["data"]["cifer_id"] == capped and payload["data"]["limit"] == 3

    clock.now = T0 + 3600  # the key's next window
    await decap(service, [capped_headers[3]], alice, 200)


async def test_more_headers_of_a_key_than_its_whole_limit_is_a_400_naming_headers(limited):
    service, _ = await limited(DEFAULTS)
    alice = await service.api_key("usr_alice")
    capped = await new_cifer(service, alice, policy={"rate_limits": {"decrypt": "3/60"}})
    resp, body = await decap(service, await headers_of(service, capped, 4), alice, 400)
    assert body["error"]["code"] == "INVALID_REQUEST" and body["error"]["details"] == {"field": "headers"}
    assert "Retry-After" not in resp.headers
    resp, _ = await decap(service, await headers_of(service, capped, 3), alice, 200)  # nothing was counted
    assert rate_headers(resp) == (3, 0, int(T0) + 60)


async def test_a_limit_set_by_patch_holds_at_once_and_the_other_callers_count_apart(limited):
    service, _ = await limited(DEFAULTS)
    alice, bob = await service.api_key("usr_alice"), await service.api_key("usr_bob")
    cid = await new_cifer(service, alice, policy={"allowed_principals": ["usr_bob"]})
    headers = await headers_of(service, cid, 3)
    await service.call("PATCH", f"/v1/cifers/{cid}", headers=alice, expect=200,
                       json={"policy": {"allowed_principals": ["usr_bob"], "rate_limits": {"decrypt": "1/60"}}})
    _, got = await service.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert got["data"]["policy"]["rate_limits"] == {"decrypt": "1/60"}
    await decap(service, [headers[0]], alice, 200)
    await decap(service, [headers[1]], alice, 429)
    await decap(service, [headers[2]], bob, 200)  # bob's own window with this key


async def test_a_rewrap_counts_against_the_key_of_its_header(limited):
    service, _ = await limited(DEFAULTS)
    alice = await service.api_key("usr_alice")
    cid = await new_cifer(service, alice, policy={"rate_limits": {"decrypt": "1/60"}})
    header, other = await headers_of(service, cid, 2)
    await service.call("POST", "/v1/rewrap", json={"header": header}, headers=alice, expect=200)
    _, body = await service.call("POST", "/v1/rewrap", json={"header": other}, headers=alice, expect=429)
    assert body["error"]["details"]["cifer_id"] == cid


async def test_a_keys_limit_holds_with_counters_in_redis(limited, redis_prefix):
    service, _ = await limited(dataclasses.replace(DEFAULTS, redis_key_prefix=redis_prefix), redis_url=REDIS_URL)
    alice = await service.api_key("usr_alice")
    capped = await new_cifer(service, alice, policy={"rate_limits": {"decrypt": "2/60"}})
    free = await new_cifer(service, alice)
    headers = await headers_of(service, capped, 3)
    resp, _ = await decap(service, headers[:2], alice, 200)
    assert rate_headers(resp) == (2, 0, int(T0) + 60)
    resp, body = await decap(service, [*await headers_of(service, free, 1), headers[2]], alice, 429)
    assert_refused_by_key(resp, body, capped, limit=2, reset=int(T0) + 60, retry_after=45, window="1 minute")
    resp, _ = await decap(service, await headers_of(service, free, 1), alice, 200)
    assert rate_headers(resp) == (100, 97, int(T0) + 60)  # the refused batch cost nothing
    resp, _ = await decap(service, await headers_of(service, capped, 4), alice, 400)  # more than the whole limit


@pytest.mark.parametrize(("rate_limits", "field"), [
    ({"decrypt": "0/60"}, "policy.rate_limits.decrypt"),
    ({"decrypt": "10/0"}, "policy.rate_limits.decrypt"),
    ({"decrypt": "10/86401"}, "policy.rate_limits.decrypt"),
    ({"decrypt": "1000000001/60"}, "policy.rate_limits.decrypt"),
    ({"workload_decrypt": "ten/60"}, "policy.rate_limits.workload_decrypt"),
    ({"decrypt": " 10/60"}, "policy.rate_limits.decrypt"),
    ({"decrypt": 10}, "policy.rate_limits.decrypt"),
    ({"decrypt": {"limit": 10, "window_s": 60}}, "policy.rate_limits.decrypt"),
    ({"get": "10/60"}, "policy.rate_limits.get"),
    (["decrypt=10/60"], "policy.rate_limits"),
], ids=["zero-limit", "zero-window", "window-over-a-day", "limit-too-big", "not-a-number", "space",
        "an-integer", "an-object", "not-a-key-category", "a-list"])
async def test_a_malformed_key_limit_is_a_400_naming_the_field(limited, rate_limits, field):
    service, _ = await limited(DEFAULTS)
    alice = await service.api_key("usr_alice")
    _, body = await service.call("POST", "/v1/cifers", headers=alice, expect=400,
                                 json={"name": "k", "policy": {"rate_limits": rate_limits}})
    assert body["error"]["code"] == "INVALID_REQUEST" and body["error"]["details"] == {"field": field}
    cid = await new_cifer(service, alice)
    _, body = await service.call("PATCH", f"/v1/cifers/{cid}", headers=alice, expect=400,
                                 json={"policy": {"rate_limits": rate_limits}})
    assert body["error"]["details"] == {"field": field}


@pytest.mark.parametrize("spelled", ["1/1", "1000000000/86400", "7/79999", "7/85999", "7/86399",
                                     "0/60", "10/0", "10/86401", "10/99946", "1000000001/60", "01/60"])
def test_the_documents_pattern_promises_exactly_what_the_key_service_takes(spelled):
    # schemathesis found a window over a day that the OpenAPI pattern allowed and the service refused
    import re

    from cifer.api.openapi import document
    from cifer.api.schemas import MAX_KEY_RATE_LIMIT, MAX_KEY_RATE_WINDOW_S

    policy = document("keyservice")["components"]["schemas"]["CiferPolicy"]
    pattern = policy["properties"]["rate_limits"]["properties"]["decrypt"]["pattern"]
    limit, window_s = spelled.split("/")
    taken = not limit.startswith("0") and 1 <= int(limit) <= MAX_KEY_RATE_LIMIT and 1 <= int(window_s) <= MAX_KEY_RATE_WINDOW_S
    assert bool(re.fullmatch(pattern, spelled)) is taken
