"""Limits sized for workloads (issue 13): under the defaults a pod's ServiceAccount decrypts 1,000
envelopes in a minute without a 429, while an API key keeps seed §8.1's 100 per minute and its
101st decrypt is refused with the seed's headers. Counts made in one group commit stay exact."""

from __future__ import annotations

import asyncio
import secrets

from cifer.envelope import encrypt
from cifer_keyservice.ratelimit import RATE_LIMITER
from cifer_keyservice.settings import RateLimits
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient
from keyservice.test_ratelimit import SMALL, T0, Clock, limited, quota_events, rate_headers  # noqa: F401 - a fixture
from keyservice.test_serviceaccounts import bearer, start_with_token_review

DEFAULTS = RateLimits()


async def test_under_the_defaults_a_pod_identity_decrypts_1000_envelopes_in_a_minute(aiohttp_client, kube, tmp_path):
    service = await start_with_token_review(aiohttp_client, kube, tmp_path)
    clock = Clock(T0 + 1)
    service.client.app[RATE_LIMITER].clock = clock
    workload = f"payments-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    alice = await service.api_key("usr_alice")
    cid = await new_cifer(service, alice, policy={"allowed_principals": [f"system:serviceaccount:default:{workload}"]})
    to = await recipient(service, cid)
    headers = [b64(header_of(encrypt(to, b"row %d" % n))) for n in range(1000)]
    pod = bearer(kube.create_token("default", workload, audience="cifer"))
    opened = 0
    for start in range(0, 1000, 250):  # as a sidecar coalesces its callers' decrypts
        clock.now += 10  # the whole run inside one minute's window
        resp, body = await service.call("POST", "/v1/decapsulate", json=decap_body(headers[start:start + 250]),
                                        headers=pod, expect=200)
        opened += sum(result["success"] for result in body["data"]["results"])
    assert opened == 1000
    limit = DEFAULTS.workload_decrypt.limit
    assert rate_headers(resp) == (limit, limit - 1000, int(T0) + 60)


async def test_an_api_key_keeps_the_seeds_100_decrypts_a_minute_and_its_101st_is_refused(limited):
    service, clock = await limited(DEFAULTS)
    alice = await service.api_key("usr_alice")
    cid = await new_cifer(service, alice)
    header = b64(header_of(encrypt(await recipient(service, cid), b"x")))
    resp, _ = await service.call("POST", "/v1/decapsulate", json=decap_body([header] * 99), headers=alice, expect=200)
    assert rate_headers(resp) == (100, 1, int(T0) + 60)
    resp, _ = await service.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=alice, expect=200)
    assert rate_headers(resp) == (100, 0, int(T0) + 60)
    resp, body = await service.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=alice, expect=429)
    assert rate_headers(resp) == (100, 0, int(T0) + 60)
    assert resp.headers["Retry-After"] == "45"
    assert body["error"] == {
        "code": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded. Please retry after 45 seconds.",
        "details": {"limit": 100, "window": "1 minute", "retry_after": 45},
        "documentation_url": "https://docs.cifer.io/errors/RATE_LIMIT_EXCEEDED",
    }


async def test_concurrent_requests_counted_in_one_transaction_never_pass_the_limit(limited):
    service, _ = await limited(SMALL)
    alice = await service.api_key("usr_alice")
    answers = await asyncio.gather(*(service.client.get("/v1/cifers", headers=alice) for _ in range(7)))
    assert sorted(resp.status for resp in answers) == [200] * 3 + [429] * 4
    assert sorted(rate_headers(resp)[1] for resp in answers if resp.status == 200) == [0, 1, 2]
    assert [owner for owner, _ in await quota_events(service.settings)] == ["usr_alice"]  # once
