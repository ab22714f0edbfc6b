"""What the rate limits do not count (issue 15, defect 9; ratelimit.py, "What counts"): an
idempotent replay, and a refusal for policy (403). From outside, on SQLite and PostgreSQL, with
the counters in the database and in Redis."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import redis.asyncio as aioredis
from cifer_keyservice.db.engine import create_engine
from cifer_keyservice.db.models import RateLimitWindow
from cifer_keyservice.settings import FixedWindow
from sqlalchemy import select

from keyservice.helpers import new_cifer
from keyservice.test_ratelimit import (  # noqa: F401 - limited and redis_prefix are fixtures
    REDIS_URL,
    SMALL,
    T0,
    limited,
    rate_headers,
    redis_prefix,
)
from keyservice.test_ratelimit_keys import decap, headers_of


@pytest.fixture(params=["database", "redis"])
async def start(request, limited, redis_prefix):  # noqa: F811 - the fixtures imported above
    """Starts the key service with `limits`, its counters in the database or in Redis;
    (service, clock, counts) where `counts(principal)` reads that store's counters now."""
    launch, prefix = limited, redis_prefix
    async def starter(limits=SMALL):
        if request.param == "database":
            service, clock = await launch(limits)
        else:
            service, clock = await launch(dataclasses.replace(limits, redis_key_prefix=prefix),
                                           redis_url=REDIS_URL)

        async def counts(principal: str) -> dict[str, int]:
            if request.param == "redis":
                client = aioredis.from_url(REDIS_URL)
                try:
                    keys = [key.decode() async for key in client.scan_iter(match=f"{prefix}{{{principal}}}:*")]
                    return {key.split("}:", 1)[1].rsplit(":", 1)[0]: int(await client.get(key))
                            for key in keys if not key.endswith(":notified")}
                finally:
                    await client.aclose()
            engine = create_engine(service.settings.database_url)
            try:
                async with engine.connect() as conn:
                    rows = (await conn.execute(select(RateLimitWindow.category, RateLimitWindow.count)
                                               .where(RateLimitWindow.principal == principal))).all()
            finally:
                await engine.dispose()
            return dict(rows)
        return service, clock, counts
    return starter


async def test_a_replay_is_free_even_when_the_window_is_spent_and_a_429_is_never_replayed(start):
    service, clock, counts = await start()
    alice = await service.api_key("usr_alice")
    first, body = await service.call("POST", "/v1/cifers", json={"name": "once"},
                                     headers={**alice, "X-Idempotency-Key": "k1"}, expect=201)
    assert rate_headers(first)[:2] == (3, 2) and "Idempotent-Replayed" not in first.headers
    for _ in range(5):  # more replays than the whole limit
        again, replayed = await service.call("POST", "/v1/cifers", json={"name": "once"},
                                             headers={**alice, "X-Idempotency-Key": "k1"}, expect=201)
        assert again.headers["Idempotent-Replayed"] == "true" and replayed["data"] == body["data"]
        assert "X-RateLimit-Remaining" not in again.headers  # it counted nothing
    for n, key in enumerate(("k2", "k3")):
        resp, _ = await service.call("POST", "/v1/cifers", json={"name": key},
                                     headers={**alice, "X-Idempotency-Key": key}, expect=201)
        assert rate_headers(resp)[:2] == (3, 1 - n)
    assert await counts("usr_alice") == {"create": 3}
    # The window is spent: a replay still answers, a new request is refused.
    again, replayed = await service.call("POST", "/v1/cifers", json={"name": "once"},
                                         headers={**alice, "X-Idempotency-Key": "k1"}, expect=201)
    assert again.headers["Idempotent-Replayed"] == "true" and replayed["data"] == body["data"]
    refused, _ = await service.call("POST", "/v1/cifers", json={"name": "k4"},
                                    headers={**alice, "X-Idempotency-Key": "k4"}, expect=429)
    assert "Idempotent-Replayed" not in refused.headers
    clock.now = T0 + 3600  # the next window: the key's next try runs, its 429 was not kept
    resp, created = await service.call("POST", "/v1/cifers", json={"name": "k4"},
                                       headers={**alice, "X-Idempotency-Key": "k4"}, expect=201)
    assert "Idempotent-Replayed" not in resp.headers and created["data"]["name"] == "k4"


async def test_refusals_for_policy_cost_no_quota(start):
    service, _, counts = await start()
    alice, bob = await service.api_key("usr_alice"), await service.api_key("usr_bob")
    reader = await service.api_key("usr_carol", scopes=("cifer:read",))
    alices = await new_cifer(service, alice, policy={"rate_limits": {"decrypt": "2/60"}})
    bobs = await new_cifer(service, bob)
    unrotatable = await new_cifer(service, bob, policy={"allowed_operations": ["encrypt", "decrypt"]})
    alice_headers, bob_headers = await headers_of(service, alices, 1), await headers_of(service, bobs, 6)

    for _ in range(5):  # more than the whole limit (3/min), each one refused for policy, none counted
        resp, body = await decap(service, alice_headers, bob, 403)
        assert body["error"]["code"] == "UNAUTHORIZED_DECRYPT"
        assert rate_headers(resp)[:2] == (2, 2)  # the key's own window (the tightest), whole again
        resp, body = await service.call("POST", f"/v1/cifers/{unrotatable}/rotate", json={}, headers=bob,
                                        expect=403)
        assert body["error"]["code"] == "FORBIDDEN" and rate_headers(resp)[:2] == (3, 3)
        resp, body = await decap(service, bob_headers[:1], reader, 403)  # a scope the caller lacks
        assert body["error"]["code"] == "FORBIDDEN" and rate_headers(resp)[:2] == (3, 3)
    # A batch counts only the headers it did not refuse for policy, in the principal's and the key's windows.
    resp, body = await decap(service, [alice_headers[0], bob_headers[0], alice_headers[0]], bob, 200)
    assert [r["success"] for r in body["data"]["results"]] == [False, True, False]
    assert rate_headers(resp)[:2] == (3, 2)
    assert (await counts("usr_bob")).get(f"decrypt:{alices}", 0) == 0
    # Bob's own quota is whole: two more decrypts and three rotations pass, then 429.
    await decap(service, bob_headers[1:3], bob, 200)
    resp, body = await decap(service, bob_headers[3:4], bob, 429)
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    for _ in range(3):
        await service.call("POST", f"/v1/cifers/{bobs}/rotate", json={}, headers=bob, expect=200)
    await service.call("POST", f"/v1/cifers/{bobs}/rotate", json={}, headers=bob, expect=429)
    assert {k: v for k, v in (await counts("usr_bob")).items() if v} == {"create": 2, "decrypt": 3, "rotate": 3}
    assert {k: v for k, v in (await counts("usr_carol")).items() if v} == {}


async def test_concurrent_refusals_and_decrypts_leave_exactly_the_decrypts_counted(start):
    service, _, counts = await start(dataclasses.replace(SMALL, decrypt=FixedWindow(100, 60)))
    alice, bob = await service.api_key("usr_alice"), await service.api_key("usr_bob")
    alices = await new_cifer(service, alice, policy={"rate_limits": {"decrypt": "50/60"}})
    bobs = await new_cifer(service, bob)
    (alice_header,), bob_headers = await headers_of(service, alices, 1), await headers_of(service, bobs, 12)
    calls = [decap(service, [alice_header], bob, 403) for _ in range(24)]
    calls += [decap(service, [header], bob, 200) for header in bob_headers]
    calls += [decap(service, [alice_header, header], bob, 200) for header in bob_headers[:6]]  # mixed batches
    await asyncio.gather(*calls)
    left = await counts("usr_bob")
    assert left["decrypt"] == 12 + 6 and left.get(f"decrypt:{alices}", 0) == 0
