"""Rate limits (seed §8) on SQLite and PostgreSQL, and with the counters in Redis.

Every test pins the limiter's clock, so no window ends in the middle of a test."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import uuid

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from cifer.keystore.config import FileKekSettings
from cifer_keyservice import ratelimit
from cifer_keyservice.app import create_app
from cifer_keyservice.db.engine import create_engine
from cifer_keyservice.db.models import OutboxEvent, RateLimitWindow
from cifer_keyservice.ratelimit import RATE_LIMITER
from cifer_keyservice.settings import FixedWindow, KeyServiceSettings, RateLimits
from keyrelease_helpers import decap_body
from keyservice.helpers import new_cifer
from keyservice.service import KeyService

REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = 1_800_000_000.0  # a multiple of 60 and 3600 (not of a day): windows start here
SMALL = RateLimits(create=FixedWindow(3, 3600), encrypt=FixedWindow(3, 60), decrypt=FixedWindow(3, 60),
                   get=FixedWindow(3, 60), rotate=FixedWindow(3, 86400))
GARBAGE_HEADER = "eA=="  # base64 of one byte: no envelope header; the service answers per header


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limited(aiohttp_client, database_url, tmp_path):
    """Starts the key service with the given limits and a pinned clock; (service, clock)."""
    async def start(limits: RateLimits = SMALL, **overrides) -> tuple[KeyService, Clock]:
        settings = KeyServiceSettings(database_url=database_url, kek=FileKekSettings(tmp_path / "kek.key"),
                                      rate_limits=limits, **overrides)
        audit_lines = io.StringIO()
        client = await aiohttp_client(create_app(settings, audit_stream=audit_lines))
        service = KeyService(client, settings, audit_lines)
        clock = Clock(T0 + 15)
        service.client.app[RATE_LIMITER].clock = clock
        return service, clock
    return start


@pytest.fixture
async def redis_prefix():
    """A key prefix of the test's own on the machine's Redis; its keys are deleted after."""
    prefix = f"cifer-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def rate_headers(resp) -> tuple[int, int, int]:
    h = resp.headers
    return int(h["X-RateLimit-Limit"]), int(h["X-RateLimit-Remaining"]), int(h["X-RateLimit-Reset"])


async def quota_events(settings: KeyServiceSettings) -> list[tuple[str, dict]]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(
                select(OutboxEvent.owner_id, OutboxEvent.payload).where(OutboxEvent.type == "quota.exceeded")
                .order_by(OutboxEvent.created_at)
            )).all()
    finally:
        await engine.dispose()
    return [(owner, payload) for owner, payload in rows]


async def assert_limited(service: KeyService, headers, *, limit: int, reset: int, retry_after: int, window: str):
    """`limit` calls of GET /v1/cifers pass counting down; the next is §8.3's 429."""
    for n in range(limit):
        resp, _ = await service.call("GET", "/v1/cifers", headers=headers, expect=200)
        assert rate_headers(resp) == (limit, limit - n - 1, reset)
    resp, body = await service.call("GET", "/v1/cifers", headers=headers, expect=429)
    assert resp.headers["Retry-After"] == str(retry_after)
    assert rate_headers(resp) == (limit, 0, reset)
    assert body["success"] is False
    assert body["error"] == {
        "code": "RATE_LIMIT_EXCEEDED", "message": f"Rate limit exceeded. Please retry after {retry_after} seconds.",
        "details": {"limit": limit, "window": window, "retry_after": retry_after},
        "documentation_url": "https://docs.cifer.io/errors/RATE_LIMIT_EXCEEDED",
    }


async def test_n_calls_pass_counting_down_and_the_next_is_429_until_the_window_ends(limited):
    service, clock = await limited()
    alice = await service.api_key("usr_alice")
    await assert_limited(service, alice, limit=3, reset=int(T0) + 60, retry_after=45, window="1 minute")
    clock.now = T0 + 59.5  # Retry-After rounds up and is never 0
    resp, _ = await service.call("GET", "/v1/cifers", headers=alice, expect=429)
    assert resp.headers["Retry-After"] == "1"
    clock.now = T0 + 60  # the next window
    resp, _ = await service.call("GET", "/v1/cifers", headers=alice, expect=200)
    assert rate_headers(resp) == (3, 2, int(T0) + 120)


async def test_each_principal_has_its_own_count(limited):
    service, _ = await limited()
    alice = await service.api_key("usr_alice")
    bob = await service.api_key("usr_bob")
    await assert_limited(service, alice, limit=3, reset=int(T0) + 60, retry_after=45, window="1 minute")
    resp, _ = await service.call("GET", "/v1/cifers", headers=bob, expect=200)
    assert rate_headers(resp)[1] == 2
    other_key_of_alice = await service.api_key("usr_alice")  # the principal, not the key, is counted
    await service.call("GET", "/v1/cifers", headers=other_key_of_alice, expect=429)


async def test_each_category_counts_its_own_routes_and_other_routes_are_not_limited(limited):
    service, _ = await limited()
    alice = await service.api_key("usr_alice")
    cid = await new_cifer(service, alice)  # create: 1 of 3
    hour, minute, day = int(T0) + 3600, int(T0) + 60, int(T0) - int(T0) % 86400 + 86400
    calls = [
        ("POST", "/v1/cifers", {"json": {"name": "k2"}, "headers": alice}, 201, (3, 1, hour)),
        ("GET", "/v1/cifers", {"headers": alice}, 200, (3, 2, minute)),
        ("GET", f"/v1/cifers/{cid}", {"headers": alice}, 200, (3, 1, minute)),
        ("GET", f"/v1/keys/{cid}", {}, 200, (3, 2, minute)),
        ("POST", "/v1/decapsulate", {"json": decap_body([GARBAGE_HEADER] * 2), "headers": alice}, 200, (3, 1, minute)),
        ("POST", "/v1/rewrap", {"json": {"header": GARBAGE_HEADER}, "headers": alice}, 400, (3, 0, minute)),
        ("POST", f"/v1/cifers/{cid}/rotate", {"json": {}, "headers": alice}, 200, (3, 2, day)),
    ]
    for method, path, kwargs, status, expected in calls:
        resp, _ = await service.call(method, path, expect=status, **kwargs)
        assert rate_headers(resp) == expected, (method, path)
    resp, _ = await service.call("DELETE", f"/v1/cifers/{cid}", headers={**alice, "X-Confirm-Revocation": "true"},
                                 expect=200)
    assert "X-RateLimit-Limit" not in resp.headers
    resp, _ = await service.call("GET", "/v1/health", expect=200)
    assert "X-RateLimit-Limit" not in resp.headers


async def test_the_public_key_fetch_is_counted_per_peer_address(limited):
    service, _ = await limited()
    alice = await service.api_key("usr_alice")
    cid = await new_cifer(service, alice)
    for _ in range(3):
        await service.call("GET", f"/v1/keys/{cid}", expect=200)
    _, body = await service.call("GET", f"/v1/keys/{cid}", headers=alice, expect=429)  # credentials change nothing
    assert body["error"]["details"]["window"] == "1 minute"
    assert await quota_events(service.settings) == []  # an address has no owner to notify


async def test_a_decapsulation_batch_of_k_headers_counts_k(limited):
    service, _ = await limited(dataclasses.replace(SMALL, decrypt=FixedWindow(5, 60)))
    alice = await service.api_key("usr_alice")
    batch = lambda k: {"json": decap_body([GARBAGE_HEADER] * k), "headers": alice}  # noqa: E731
    resp, _ = await service.call("POST", "/v1/decapsulate", expect=200, **batch(3))
    assert rate_headers(resp)[1] == 2
    resp, body = await service.call("POST", "/v1/decapsulate", expect=429, **batch(3))
    assert rate_headers(resp)[1] == 2  # refused, and not counted
    assert body["error"]["details"]["limit"] == 5
    resp, _ = await service.call("POST", "/v1/decapsulate", expect=200, **batch(2))
    assert rate_headers(resp)[1] == 0


async def test_a_batch_larger_than_the_whole_limit_is_a_400_naming_headers(limited):
    service, _ = await limited()
    alice = await service.api_key("usr_alice")
    _, body = await service.call("POST", "/v1/decapsulate", json=decap_body([GARBAGE_HEADER] * 4), headers=alice,
                                 expect=400)
    assert body["error"]["code"] == "INVALID_REQUEST" and body["error"]["details"] == {"field": "headers"}
    # A body the handler refuses counts one call, and is still the handler's 400.
    resp, body = await service.call("POST", "/v1/decapsulate", json={"headers": "x"}, headers=alice, expect=400)
    assert body["error"]["details"] == {"field": "headers"} and rate_headers(resp)[1] == 2


async def test_error_responses_of_limited_routes_carry_the_headers(limited):
    service, _ = await limited()
    alice = await service.api_key("usr_alice")
    reader = await service.api_key("usr_carol", scopes=("cifer:read",))
    resp, body = await service.call("GET", "/v1/cifers/cif_" + "0" * 24, headers=alice, expect=404)
    assert rate_headers(resp)[:2] == (3, 2)
    resp, body = await service.call("POST", "/v1/decapsulate", json=decap_body([GARBAGE_HEADER]), headers=reader,
                                    expect=403)
    assert body["error"]["code"] == "FORBIDDEN" and rate_headers(resp)[:2] == (3, 3)  # a 403 is given back


async def test_quota_exceeded_is_emitted_once_per_principal_category_and_window(limited):
    service, clock = await limited()
    alice = await service.api_key("usr_alice")
    await assert_limited(service, alice, limit=3, reset=int(T0) + 60, retry_after=45, window="1 minute")
    for _ in range(3):
        await service.call("GET", "/v1/cifers", headers=alice, expect=429)
    events = await quota_events(service.settings)
    assert len(events) == 1
    owner, payload = events[0]
    assert owner == "usr_alice" and payload["type"] == "quota.exceeded" and payload["id"].startswith("evt_")
    assert payload["data"] == {
        "principal": "usr_alice", "category": "get", "limit": 3, "window": "1 minute",
        "window_start": "2027-01-15T08:00:00Z", "reset": "2027-01-15T08:01:00Z",
    }
    clock.now = T0 + 60
    for _ in range(3):
        await service.call("GET", "/v1/cifers", headers=alice, expect=200)
    await service.call("GET", "/v1/cifers", headers=alice, expect=429)
    assert len(await quota_events(service.settings)) == 2  # a new window, a new notice


async def test_concurrent_calls_never_pass_more_than_the_limit(limited):
    service, _ = await limited(dataclasses.replace(SMALL, get=FixedWindow(4, 60)))
    alice = await service.api_key("usr_alice")
    answers = await asyncio.gather(*(service.client.get("/v1/cifers", headers=alice) for _ in range(10)))
    assert sorted(resp.status for resp in answers) == [200] * 4 + [429] * 6
    assert len(await quota_events(service.settings)) == 1


async def test_ended_windows_are_deleted_now_and_then(limited, monkeypatch):
    service, clock = await limited()
    alice = await service.api_key("usr_alice")
    await service.call("GET", "/v1/cifers", headers=alice, expect=200)
    clock.now = T0 + 86400 + 60  # past the longest window (rotate: a day)
    monkeypatch.setattr(ratelimit, "CLEANUP_EVERY", 1)
    await service.call("GET", "/v1/cifers", headers=alice, expect=200)
    engine = create_engine(service.settings.database_url)
    try:
        async with engine.connect() as conn:
            starts = (await conn.execute(select(RateLimitWindow.window_start))).scalars().all()
    finally:
        await engine.dispose()
    assert starts == [int(T0) + 86400 + 60]


async def test_counters_in_redis_limit_the_same_way(limited, redis_prefix):
    limits = dataclasses.replace(SMALL, redis_key_prefix=redis_prefix)
    service, _ = await limited(limits, redis_url=REDIS_URL)
    alice = await service.api_key("usr_alice")
    bob = await service.api_key("usr_bob")
    await assert_limited(service, alice, limit=3, reset=int(T0) + 60, retry_after=45, window="1 minute")
    await service.call("GET", "/v1/cifers", headers=alice, expect=429)
    resp, _ = await service.call("GET", "/v1/cifers", headers=bob, expect=200)
    assert rate_headers(resp)[1] == 2
    events = await quota_events(service.settings)
    assert [owner for owner, _ in events] == ["usr_alice"]
    engine = create_engine(service.settings.database_url)
    try:
        async with engine.connect() as conn:  # nothing was counted in the database
            assert (await conn.execute(select(func.count()).select_from(RateLimitWindow))).scalar_one() == 0
    finally:
        await engine.dispose()
    client = aioredis.from_url(REDIS_URL)
    try:
        counter = f"{redis_prefix}{{usr_alice}}:get:{int(T0)}"
        assert int(await client.get(counter)) == 3 and 0 < await client.ttl(counter) <= 60
    finally:
        await client.aclose()


async def test_an_unreachable_counter_store_fails_closed_with_503(limited, redis_prefix):
    limits = dataclasses.replace(SMALL, redis_key_prefix=redis_prefix)
    service, _ = await limited(limits, redis_url="redis://127.0.0.1:1/0")
    alice = await service.api_key("usr_alice")
    _, body = await service.call("GET", "/v1/cifers", headers=alice, expect=503)
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    _, body = await service.call("GET", "/v1/health", expect=503)
    assert body["error"]["details"]["checks"]["redis"] == "failing"


OPERATOR = "system:serviceaccount:cifer-system:cifer-operator"


async def test_a_control_plane_principal_is_never_limited_and_others_still_are(limited):
    service, _ = await limited(dataclasses.replace(SMALL, create=FixedWindow(10, 3600)),
                               admin_principals=frozenset({OPERATOR}))
    operator = await service.api_key(OPERATOR, scopes=("cifer:create",))  # its kind does not matter: its name does
    alice = await service.api_key("usr_alice")
    for n in range(12):
        resp, _ = await service.call("POST", "/v1/cifers", json={"name": f"op-{n}"}, headers=operator, expect=201)
        assert not any(name.startswith("X-RateLimit-") for name in resp.headers), n  # no limit, so no headers
    for _ in range(5):  # other categories too
        resp, _ = await service.call("GET", "/v1/cifers", headers=operator, expect=200)
        assert "X-RateLimit-Limit" not in resp.headers
    for n in range(10):
        resp, _ = await service.call("POST", "/v1/cifers", json={"name": f"a-{n}"}, headers=alice, expect=201)
        assert rate_headers(resp)[:2] == (10, 9 - n)
    resp, body = await service.call("POST", "/v1/cifers", json={"name": "a-10"}, headers=alice, expect=429)
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED" and rate_headers(resp)[:2] == (10, 0)
    _, who = await service.call("GET", "/v1/whoami", headers=operator, expect=200)
    assert who["data"]["scopes"] == ["admin", "cifer:create"]
    engine = create_engine(service.settings.database_url)
    try:
        async with engine.connect() as conn:
            counted = (await conn.execute(select(RateLimitWindow.principal).distinct())).scalars().all()
    finally:
        await engine.dispose()
    assert counted == ["usr_alice"]  # nothing was counted for the operator
    assert [owner for owner, _ in await quota_events(service.settings)] == ["usr_alice"]


async def test_the_fetch_counters_held_in_memory_are_bounded_and_keep_the_newest(monkeypatch):
    # The public-key fetch is counted per address in the replica's memory on the database store
    # (so a fetch writes nothing): many addresses must not grow it without bound.
    monkeypatch.setattr(ratelimit.MemoryCounters, "MAX_COUNTERS", 10)
    counters, limit, now = ratelimit.MemoryCounters(), FixedWindow(2, 60), 1000.0

    def fetch(address: str) -> ratelimit.Take:
        return ratelimit.Take(f"ip:{address}", ratelimit.Window.at(now, "encrypt", limit, 1), None, now)

    for n in range(50):
        assert (await counters.take(fetch(f"10.0.0.{n}"))).allowed
    assert len(counters) <= 10
    newest = fetch("10.0.0.49")
    assert (await counters.take(newest)).allowed  # its second of 2: it was kept
    assert not (await counters.take(newest)).allowed
