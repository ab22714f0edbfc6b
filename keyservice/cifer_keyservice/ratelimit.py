"""Rate limits (seed §8): fixed windows per principal and category, counted by all replicas
together — in the database (`rate_limit_windows`), or in Redis when `redis_url` is set.

- Category: the endpoint table (`cifer.api.endpoints`) gives each limited route one of §8.1's categories; limits and
  windows are `KeyServiceSettings.rate_limits`. A window is `[start, start + window_s)` with
  `start` a multiple of `window_s` since the Unix epoch, so every replica agrees on it.
- Principal: the authenticated caller's id. The public-key fetch (`encrypt`) needs no
  credentials, so it is counted per peer address, `ip:<address>` (behind a proxy that is the
  proxy's address: give such a deployment's proxy its own limit).
- Cost: one per request, except `POST /v1/decapsulate`, where each header of the batch is one
  decrypt. The middleware parses the body (already capped by `client_max_size`; aiohttp keeps
  the bytes for the handler) and counts its `headers` list; a body the handler will refuse
  counts one. A batch larger than a whole window's limit could never pass: it is refused as
  400 INVALID_REQUEST naming `headers`, not as a 429 whose Retry-After would be a lie.
- Over the limit: the request is refused without being counted (a refused batch does not eat
  what is left of the window) with 429 RATE_LIMIT_EXCEEDED, `Retry-After` and §8.3's body. The
  first refusal of a (principal, category, window) emits `quota.exceeded` once, however many
  replicas refuse (the `exceeded_notified` flag, set atomically with the event's outbox row).
- Headers: every response of a limited route, errors raised by the handler included, carries
  `X-RateLimit-Limit`, `-Remaining` and `-Reset` (the window's end, unix seconds): the middleware
  puts its verdict on the request and `add_headers`, an `on_response_prepare` signal, writes
  them into whatever response goes out, even one an outer middleware rendered.
- Workload identities: a ServiceAccount principal (a pod, through its sidecar) is counted in the
  category's `workload_` variant when `RateLimits` has one (`workload_decrypt`), with that limit
  and its own counter; API keys and OIDC clients keep §8.1's. The §8.2 headers and the 429 are
  the same; `quota.exceeded` names the seed's category.
- The control plane is not limited: a principal in `admin_principals` (the operator, reconciling
  hundreds of keys at once) skips the limiter entirely — nothing is counted, and its answers carry
  no X-RateLimit-* headers, since no limit applies to it. Unauthenticated routes (the public-key
  fetch) know no principal and stay limited per peer address.
- Fail closed: if the counter store cannot be reached, limited routes answer 503
  SERVICE_UNAVAILABLE rather than serve without limits.
- Old windows: the database store deletes ended windows on 1 request in `CLEANUP_EVERY`; Redis
  counters expire by themselves at their window's end.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from sqlalchemy import Integer, and_, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from cifer.api.endpoints import DECAPSULATE, KEYSERVICE, endpoint_of, served_by
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.timestamps import unix_iso
from cifer.api import parsing as parse
from cifer.extras import require
from cifer_keyservice import events
from cifer_keyservice.auth.principal import PRINCIPAL
from cifer_keyservice.db.models import RateLimitWindow
from cifer_keyservice.groupcommit import CommitFailed, GroupCommit
from cifer_keyservice.settings import FixedWindow, RateLimits
from cifer_keyservice.state import SETTINGS

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("cifer.keyservice.ratelimit")

# (method, canonical route) -> category of seed §8.1, from the endpoint table; HEAD counts as its GET.
ROUTES = {endpoint.key: endpoint.rate_category for endpoint in served_by(KEYSERVICE) if endpoint.rate_category}
# Categories of routes that need no credential: counted per peer address.
UNAUTHENTICATED = frozenset(e.rate_category for e in served_by(KEYSERVICE) if e.rate_category and e.public)
WORKLOAD = "workload_"  # prefix of a category's limit for workload identities (RateLimits)
CLEANUP_EVERY = 100  # one request in this many deletes ended windows (database store)
_WINDOW_NAMES = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))

# The Redis counter: add `cost` only if the window stays within `limit`; on a refusal, report
# whether this is the window's first (SET NX of the flag). KEYS: counter, flag. ARGV: cost,
# limit, seconds to keep the keys. Returns {allowed 0|1, count, first refusal 0|1}.
_REDIS_TAKE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if count + cost <= tonumber(ARGV[2]) then
  count = redis.call('INCRBY', KEYS[1], cost)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {1, count, 0}
end
local first = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3])
if first then return {0, count, 1} end
return {0, count, 0}
"""

Notify = Callable[[Session], None]  # adds the quota.exceeded event to a transaction


def window_name(window_s: int) -> str:
    """`1 minute`, `1 hour`, `1 day` as §8.3 writes them; `90 seconds` for what is no whole unit."""
    for unit_s, unit in _WINDOW_NAMES:
        if window_s % unit_s == 0:
            n = window_s // unit_s
            return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    raise RuntimeError(f"internal error: window of {window_s} s")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One request's outcome against its window, and what the §8.2 headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix seconds: the window's end
    retry_after: int  # seconds until then, at least 1

    def headers(self) -> dict[str, str]:
        out = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
               "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class Counters(Protocol):
    errors: tuple[type[Exception], ...]
    """What the store raises when it cannot count: the request is refused (fail closed)."""

    async def take(self, principal: str, category: str, window_start: int, cost: int, limit: int,
                   ttl_s: int, notify: Notify | None) -> tuple[bool, int]:
        """Adds `cost` if the window stays within `limit`: (allowed, count now). On the
        window's first refusal, runs `notify` in a transaction. `ttl_s`: how long the window
        has left, for a store that forgets by itself."""

    async def delete_ended(self, before: int) -> None:
        """Forgets windows that started before `before` (unix seconds)."""

    async def close(self) -> None: ...


def _window_statements(insert) -> tuple:
    """(add `cost` if the window stays within `limit`, returning the count; mark the window's
    first refusal, returning the count; read the count), built once: they run on every request."""
    table = RateLimitWindow.__table__
    cost, limit = bindparam("b_cost", type_=Integer), bindparam("b_limit", type_=Integer)
    key = and_(table.c.principal == bindparam("b_principal"), table.c.category == bindparam("b_category"),
               table.c.window_start == bindparam("b_window_start"))
    add = insert(table).values(principal=bindparam("b_principal"), category=bindparam("b_category"),
                               window_start=bindparam("b_window_start"), count=cost, exceeded_notified=False)
    add = add.on_conflict_do_update(
        index_elements=[table.c.principal, table.c.category, table.c.window_start],
        set_={"count": table.c.count + cost}, where=table.c.count + cost <= limit,
    ).returning(table.c.count)
    refuse_first = (update(table).where(key, table.c.exceeded_notified.is_(False))
                    .values(exceeded_notified=True).returning(table.c.count))
    return add, refuse_first, select(table.c.count).where(key)


_WINDOW_STATEMENTS = {"postgresql": _window_statements(pg_insert), "sqlite": _window_statements(sqlite_insert)}


@dataclasses.dataclass(frozen=True)
class _Take:
    principal: str
    category: str
    window_start: int
    cost: int
    limit: int
    notify: Notify | None


class DatabaseCounters:
    """`rate_limit_windows`: atomic upsert-increments on PostgreSQL and SQLite (≥ 3.35), written in
    the group commit (`groupcommit.py`): concurrent requests' counts share one transaction, and
    the requests of one window in a group are counted by one statement when they all fit."""

    errors = (SQLAlchemyError, OSError, CommitFailed)

    def __init__(self, sessions: async_sessionmaker, group: GroupCommit | None = None) -> None:
        self._sessions = sessions
        self._group = group

    async def take(self, principal, category, window_start, cost, limit, ttl_s, notify):
        take = _Take(principal, category, window_start, cost, limit, notify)
        if self._group is not None:
            return await self._group.submit(self._take_many, take)
        async with self._sessions.begin() as session:
            return (await session.run_sync(self._take_many, [take]))[0]

    def _take_many(self, session: Session, takes: list[_Take]) -> list[tuple[bool, int]]:
        """(allowed, count now) of each take, in order (a `GroupCommit` writer)."""
        add, _, _ = _WINDOW_STATEMENTS[session.get_bind().dialect.name]
        by_window: dict[tuple[str, str, int, int], list[int]] = {}
        for index, take in enumerate(takes):
            by_window.setdefault((take.principal, take.category, take.window_start, take.limit), []).append(index)
        results: list[tuple[bool, int]] = [(False, 0)] * len(takes)
        for (principal, category, window_start, limit), indexes in sorted(by_window.items()):
            window = {"b_principal": principal, "b_category": category, "b_window_start": window_start}
            total = sum(takes[i].cost for i in indexes)
            count = None
            if total <= limit:  # (a new window's row is inserted unchecked)
                count = session.execute(add, {**window, "b_cost": total, "b_limit": limit}).scalar_one_or_none()
            if count is not None:  # all of them fit: each sees the count as it was after its own
                for index in reversed(indexes):
                    results[index] = (True, count)
                    count -= takes[index].cost
                continue
            for index in indexes:  # not all fit: one by one, in arrival order
                results[index] = self._take_one(session, window, takes[index])
        return results

    @staticmethod
    def _take_one(session: Session, window: dict, take: _Take) -> tuple[bool, int]:
        add, refuse_first, read = _WINDOW_STATEMENTS[session.get_bind().dialect.name]
        count = session.execute(add, {**window, "b_cost": take.cost, "b_limit": take.limit}).scalar_one_or_none()
        if count is not None:
            return True, count
        first = session.execute(refuse_first, window).scalar_one_or_none()
        if first is not None:
            if take.notify is not None:
                take.notify(session)
            return False, first
        return False, session.execute(read, window).scalar_one()

    async def delete_ended(self, before: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(RateLimitWindow).where(RateLimitWindow.window_start < before))

    async def close(self) -> None:
        pass


class RedisCounters:
    """A Lua script per request (atomic on the server); keys expire at their window's end.
    `quota.exceeded` is written to the database's outbox after Redis granted the first refusal,
    so a database failure just then loses that one notice (at most once, never twice)."""

    def __init__(self, client: aioredis.Redis, sessions: async_sessionmaker, *, prefix: str) -> None:
        self._client = client
        self._sessions = sessions
        self._prefix = prefix
        self._script = client.register_script(_REDIS_TAKE)
        from redis.exceptions import RedisError  # installed: `client` is redis's
        self.errors = (SQLAlchemyError, RedisError, OSError)

    def key(self, principal: str, category: str, window_start: int) -> str:
        # The braces are a Redis Cluster hash tag: the counter and its flag share a slot.
        return f"{self._prefix}{{{category}:{window_start}:{principal}}}"

    async def take(self, principal, category, window_start, cost, limit, ttl_s, notify):
        counter = self.key(principal, category, window_start)
        allowed, count, first = await self._script(keys=[counter, counter + ":notified"], args=[cost, limit, ttl_s])
        if first and notify is not None:
            async with self._sessions.begin() as session:
                await session.run_sync(notify)
        return bool(allowed), int(count)

    async def delete_ended(self, before: int) -> None:
        pass  # EXPIRE did it

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


class RateLimiter:
    """Seed §8.1's limits over a shared counter store."""

    def __init__(self, limits: RateLimits, counters: Counters, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.counters = counters
        self.clock = clock
        """Unix seconds now; tests pin it, so that no window ends in the middle of one."""
        self._longest_window_s = max(getattr(limits, f.name).window_s for f in dataclasses.fields(limits)
                                     if isinstance(getattr(limits, f.name), FixedWindow))

    @classmethod
    def create(cls, limits: RateLimits, sessions: async_sessionmaker, *, redis_url: str | None,
               group: GroupCommit | None = None) -> RateLimiter:
        """Counters in Redis if a URL is given, else in the database (in `group`'s transactions
        when given). No I/O until the first request."""
        if redis_url is None:
            return cls(limits, DatabaseCounters(sessions, group))
        aioredis = require("redis.asyncio", extra="redis", feature="rate-limit counters in Redis (redis_url)")
        client = aioredis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        return cls(limits, RedisCounters(client, sessions, prefix=limits.redis_key_prefix))

    def counted_as(self, category: str, *, workload: bool) -> str:
        """The category whose limit and counter apply: its `workload_` variant for a workload identity."""
        if workload and hasattr(self.limits, WORKLOAD + category):
            return WORKLOAD + category
        return category

    def limit_of(self, category: str, *, workload: bool = False) -> FixedWindow:
        return getattr(self.limits, self.counted_as(category, workload=workload))

    async def take(self, principal: str, category: str, cost: int = 1, *, workload: bool = False) -> Verdict:
        """Counts `cost` requests of `principal` in `category`'s current window (its workload
        variant's for a workload identity), or refuses them. Raises 503 SERVICE_UNAVAILABLE if
        the counter store fails (fail closed)."""
        counter = self.counted_as(category, workload=workload)
        limit = self.limit_of(category, workload=workload)
        now = self.clock()
        start = int(now) - int(now) % limit.window_s
        reset = start + limit.window_s
        retry_after = max(1, math.ceil(reset - now))

        def notify(session: Session) -> None:
            if category in UNAUTHENTICATED:
                return  # a peer address has no owner whose webhooks could be told
            events.emit_in(session, "quota.exceeded", owner_id=principal, data={
                "principal": principal, "category": category, "limit": limit.limit,
                "window": window_name(limit.window_s), "window_start": unix_iso(start), "reset": unix_iso(reset),
            })

        try:
            allowed, count = await self.counters.take(principal, counter, start, cost, limit.limit,
                                                      retry_after + 1, notify)
            if random.randrange(CLEANUP_EVERY) == 0:
                await self.counters.delete_ended(int(now) - self._longest_window_s)
        except self.counters.errors:
            log.exception("rate-limit counters unavailable; refusing the request")
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE) from None
        return Verdict(allowed=allowed, limit=limit.limit, remaining=max(0, limit.limit - count),
                       reset=reset, retry_after=retry_after)

    def health_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """A Redis holding the counters is a dependency: without it limited routes answer 503."""
        return {"redis": self.counters.ping} if isinstance(self.counters, RedisCounters) else {}

    async def close(self) -> None:
        await self.counters.close()


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
VERDICT = web.RequestKey("rate_limit_verdict", Verdict)


async def _cost(request: web.Request, max_batch_headers: int) -> int:
    """Headers in a decapsulation batch the handler will accept; 1 for any other body."""
    try:
        headers = (await parse.json_object(request)).get("headers")
    except ApiError:  # the handler will refuse it
        return 1
    return len(headers) if isinstance(headers, list) and 1 <= len(headers) <= max_batch_headers else 1


@web.middleware
async def limit_rate(request: web.Request, handler):
    """Counts and limits the call; placed after authentication so that it knows the principal."""
    endpoint = endpoint_of(request, KEYSERVICE)
    category = endpoint.rate_category if endpoint is not None else None
    if category is None:
        return await handler(request)
    workload = False
    if endpoint.public:
        principal = f"ip:{request.remote or 'unknown'}"
    else:
        principal = request[PRINCIPAL].id
        if principal in request.app[SETTINGS].admin_principals:
            return await handler(request)  # the control plane: no verdict, so no headers either
        workload = request[PRINCIPAL].kind == "serviceaccount"
    limiter = request.app[RATE_LIMITER]
    limit = limiter.limit_of(category, workload=workload)
    cost = 1
    if endpoint is DECAPSULATE:  # each header of the batch is one decrypt
        cost = await _cost(request, request.app[SETTINGS].max_batch_headers)
        if cost > limit.limit:
            raise ApiError(ErrorCode.INVALID_REQUEST,
                           f"headers: a batch may carry at most {limit.limit} headers "
                           f"(the decrypt rate limit per {window_name(limit.window_s)})",
                           details={"field": "headers"})
    verdict = await limiter.take(principal, category, cost, workload=workload)
    request[VERDICT] = verdict
    if not verdict.allowed:
        raise ApiError(
            ErrorCode.RATE_LIMIT_EXCEEDED,
            f"Rate limit exceeded. Please retry after {verdict.retry_after} seconds.",
            details={"limit": limit.limit, "window": window_name(limit.window_s), "retry_after": verdict.retry_after},
        )
    return await handler(request)


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the §8.2 headers (and Retry-After on a 429) on every response of
    a limited route, whichever middleware rendered it."""
    verdict = request.get(VERDICT)
    if verdict is not None:
        response.headers.update(verdict.headers())
