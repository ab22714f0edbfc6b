"""Rate limits (seed §8): fixed windows per principal and category, counted by all replicas
together — in the database (`rate_limit_windows`), or in Redis when `redis_url` is set.

- Category: the endpoint table (`cifer.api.endpoints`) gives each limited route one of §8.1's categories; limits and
  windows are `KeyServiceSettings.rate_limits`. A window is `[start, start + window_s)` with
  `start` a multiple of `window_s` since the Unix epoch, so every replica agrees on it.
- Principal: the authenticated caller's id. The public-key fetch (`encrypt`) needs no
  credentials, so it is counted per peer address, `ip:<address>` (behind a proxy that is the
  proxy's address: give such a deployment's proxy its own limit); on the database store in each
  replica's memory (`MemoryCounters`), so that a fetch writes nothing to the database.
- Cost: one per request, except `POST /v1/decapsulate`, where each header of the batch is one
  decrypt. The middleware parses the body (already capped by `client_max_size`; aiohttp keeps
  the bytes for the handler) and counts its `headers` list; a body the handler will refuse
  counts one. A batch larger than a whole window's limit could never pass: it is refused as
  400 INVALID_REQUEST naming `headers`, not as a 429 whose Retry-After would be a lie.
- Over the limit: the request is refused without being counted (a refused batch does not eat
  what is left of the window) with 429 RATE_LIMIT_EXCEEDED, `Retry-After` and §8.3's body. The
  first refusal of a (principal, category, window) emits `quota.exceeded` once, however many
  replicas refuse (the `exceeded_notified` flag, set atomically with the event's outbox row).
- What counts. §8.1 names each limit by an operation ("Create CIFER", "Decrypt", "Key
  Rotation") and §8.3 is the one refusal it ties to a limit: a limit rations how often a caller
  uses an operation. So a request is counted when the route takes it up for work, whatever the
  outcome — a success, and any 4xx but 403 (a 400, 404 or 410 cost the service its lookup, and
  would otherwise probe for free) — and not counted when it is no use of the operation:
  - an idempotent replay (`Idempotent-Replayed: true`) repeats an answer that was counted when
    first given. The idempotency middleware sits before this one (app.py), so a replay is never
    counted, never refused with a 429, and carries no X-RateLimit-* headers (it counted nothing).
    A 429 is never kept for a key: the key's next try is a new request.
  - a refusal for policy — any 403: FORBIDDEN (a scope the caller lacks, a cifer it does not
    own, an operation the cifer's policy does not allow) or UNAUTHORIZED_DECRYPT (a principal the
    policy does not name). The caller was not let use the operation at all. Whether it is one
    is known only once the handler (or `authorize`, innermost) decided, so it is counted on
    arrival like any request and given back after (`RateLimiter.refund`): the same windows it
    was counted in (the principal's, and each cifer's own), their costs subtracted atomically
    (one UPDATE per row in its own short transaction, not the group commit's, so a refund that
    fails fails nothing else; one script in Redis, which never recreates a counter that
    expired). A decapsulation batch answered 200 gives back each header refused for policy
    (`REFUSED_FOR_POLICY`, set by the handler). Concurrency: between take and refund the cost
    is held, so a concurrent request may find the window fuller than it will end (and get a 429
    it would not have met a moment later), never emptier: the limit is never exceeded. A
    refund the store cannot make is logged and the cost stays counted (it costs only the
    caller). The headers of a refused request show the window after the refund. What still
    bounds refusals: each needs a valid credential, and each is audited under its principal.
- Headers: every response of a limited route but a replay, errors raised by the handler
  included, carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` (the window's end, unix
  seconds): the middleware
  puts its verdict on the request and `add_headers`, an `on_response_prepare` signal, writes
  them into whatever response goes out, even one an outer middleware rendered.
- Workload identities: a ServiceAccount principal (a pod, through its sidecar) is counted in the
  category's `workload_` variant when `RateLimits` has one (`workload_decrypt`), with that limit
  and its own counter; API keys and OIDC clients keep §8.1's. The §8.2 headers and the 429 are
  the same; `quota.exceeded` names the seed's category.
- Per key: a cifer's `policy.rate_limits` (`decrypt`, `workload_decrypt`; LIMIT/WINDOW_S) is
  counted per (principal, cifer, category) on top of the principal's own limit, so it can only
  tighten what a principal may do with that key. The middleware reads the cifer id of each
  header of the body (a header that does not parse counts against no key: the handler refuses
  it); the counter store looks the limits up where it counts — the database store inside the
  same group-commit transaction as the principal's count (one more statement, no round trip),
  the Redis store in a cache of each cifer's limits (`RateLimits.redis_policy_cache_s`) — and
  takes every window of the request at once, all or nothing: a batch whose headers of one key
  exceed what is left of that key's window is refused whole (429, nothing counted, not even for
  the other keys or the principal), and one carrying more headers of a key than that key's whole
  limit is a 400 naming `headers`. The X-RateLimit-* headers describe the window with the least
  left (on a 429, the one that refused; its body names the cifer in `details.cifer_id`), and the
  first refusal of a key's window emits `quota.exceeded` with that `cifer_id`. A workload
  identity is held to the key's `workload_decrypt`, any other caller to its `decrypt`, as for
  the service's own limits. A header refused for policy is given back, as below. A key's
  counter is the category `CATEGORY:CIFER_ID`; its window is at most a day
  (`MAX_KEY_RATE_WINDOW_S`), so the cleanup below never deletes a live one. Takes of a group lock
  rows in one order (principal, category, window); a cross-replica deadlock PostgreSQL still
  finds fails the group closed (503), never open.
- The control plane is not limited: a principal in `admin_principals` (the operator, reconciling
  hundreds of keys at once) skips the limiter entirely — nothing is counted, and its answers carry
  no X-RateLimit-* headers, since no limit applies to it. Unauthenticated routes (the public-key
  fetch) know no principal and stay limited per peer address.
- Fail closed: if the counter store cannot be reached, limited routes answer 503
  SERVICE_UNAVAILABLE rather than serve without limits.
- Old windows: the database store deletes ended windows on 1 request in `CLEANUP_EVERY`; Redis
  counters (`PREFIX{PRINCIPAL}:CATEGORY:WINDOW_START`, the braces a Redis Cluster hash tag, so
  that one script counts all of a principal's windows) expire by themselves at their window's end.
"""

from __future__ import annotations

import binascii
import dataclasses
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from cifer.api import parsing as parse
from cifer.api.endpoints import DECAPSULATE, KEYSERVICE, REWRAP, endpoint_of, served_by
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.schemas import MAX_KEY_RATE_WINDOW_S
from cifer.api.timestamps import unix_iso
from cifer.envelope import parse_header_exact
from cifer.exceptions import InvalidCiphertext
from cifer.extras import require
from cifer_keyservice import events
from cifer_keyservice.auth.principal import PRINCIPAL
from cifer_keyservice.groupcommit import GroupCommit
from cifer_keyservice.ratecounters import (
    Counters,
    DatabaseCounters,
    MemoryCounters,
    RedisCounters,
    Take,
    Window,
)
from cifer_keyservice.settings import FixedWindow, RateLimits
from cifer_keyservice.state import SECURITY_CONFIG, SETTINGS

log = logging.getLogger("cifer.keyservice.ratelimit")

# (method, canonical route) -> category of seed §8.1, from the endpoint table; HEAD counts as its GET.
ROUTES = {endpoint.key: endpoint.rate_category for endpoint in served_by(KEYSERVICE) if endpoint.rate_category}
# Categories of routes that need no credential: counted per peer address.
UNAUTHENTICATED = frozenset(e.rate_category for e in served_by(KEYSERVICE) if e.rate_category and e.public)
WORKLOAD = "workload_"  # prefix of a category's limit for workload identities (RateLimits)
CLEANUP_EVERY = 100  # one request in this many deletes ended windows (database store)
_WINDOW_NAMES = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))

def window_name(window_s: int) -> str:
    """`1 minute`, `1 hour`, `1 day` as §8.3 writes them; `90 seconds` for what is no whole unit."""
    for unit_s, unit in _WINDOW_NAMES:
        if window_s % unit_s == 0:
            n = window_s // unit_s
            return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    raise RuntimeError(f"internal error: window of {window_s} s")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One request's outcome against its windows, and what the §8.2 headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix seconds: the window's end
    retry_after: int  # seconds until then, at least 1
    window_s: int = 60
    cifer_id: str | None = None  # the window is this cifer's own limit (policy.rate_limits)
    never: bool = False  # more than the window's whole limit was asked for
    taken: tuple[Window, ...] = ()  # where the request was counted: what a refund gives back

    def headers(self) -> dict[str, str]:
        out = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
               "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    """Seed §8.1's limits over a shared counter store, and each cifer's own (`policy.rate_limits`)."""

    def __init__(self, limits: RateLimits, counters: Counters, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.counters = counters
        self.clock = clock
        """Unix seconds now; tests pin it, so that no window ends in the middle of one."""
        # The unauthenticated fetch's counters, when the others are in the database (MemoryCounters).
        self.unauthenticated: Counters = MemoryCounters() if isinstance(counters, DatabaseCounters) else counters
        self._longest_window_s = max([getattr(limits, f.name).window_s for f in dataclasses.fields(limits)
                                      if isinstance(getattr(limits, f.name), FixedWindow)] + [MAX_KEY_RATE_WINDOW_S])

    @classmethod
    def create(cls, limits: RateLimits, sessions: async_sessionmaker, *, redis_url: str | None,
               group: GroupCommit | None = None) -> RateLimiter:
        """Counters in Redis if a URL is given, else in the database (in `group`'s transactions
        when given). No I/O until the first request."""
        if redis_url is None:
            return cls(limits, DatabaseCounters(sessions, group))
        aioredis = require("redis.asyncio", extra="redis", feature="rate-limit counters in Redis (redis_url)")
        client = aioredis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        return cls(limits, RedisCounters(client, sessions, prefix=limits.redis_key_prefix,
                                         policy_cache_s=limits.redis_policy_cache_s))

    def counted_as(self, category: str, *, workload: bool) -> str:
        """The category whose limit and counter apply: its `workload_` variant for a workload identity."""
        if workload and hasattr(self.limits, WORKLOAD + category):
            return WORKLOAD + category
        return category

    def limit_of(self, category: str, *, workload: bool = False) -> FixedWindow:
        return getattr(self.limits, self.counted_as(category, workload=workload))

    async def take(self, principal: str, category: str, cost: int = 1, *, workload: bool = False,
                   keys: Mapping[str, int] | None = None) -> Verdict:
        """Counts `cost` requests of `principal` in `category`'s current window (its workload
        variant's for a workload identity), and `keys`' costs (cifer id -> headers of it) in the
        windows of the cifers whose policy limits that category; or refuses them all. Raises 503
        SERVICE_UNAVAILABLE if the counter store fails (fail closed)."""
        counter = self.counted_as(category, workload=workload)
        now = self.clock()

        def notify(session: Session, window: Window) -> None:
            if category in UNAUTHENTICATED:
                return  # a peer address has no owner whose webhooks could be told
            data = {"principal": principal, "category": category, "limit": window.limit.limit,
                    "window": window_name(window.limit.window_s), "window_start": unix_iso(window.start),
                    "reset": unix_iso(window.reset)}
            if window.cifer_id is not None:
                data["cifer_id"] = window.cifer_id
            events.emit_in(session, "quota.exceeded", owner_id=principal, data=data)

        take = Take(principal, Window.at(now, counter, self.limit_of(category, workload=workload), cost), notify, now,
                    tuple(sorted((keys or {}).items())), counter)
        counters = self.unauthenticated if category in UNAUTHENTICATED else self.counters
        try:
            counted = await counters.take(take)
            if random.randrange(CLEANUP_EVERY) == 0:
                await counters.delete_ended(int(now) - self._longest_window_s)
        except counters.errors:
            log.exception("rate-limit counters unavailable; refusing the request")
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE) from None
        window = counted.window
        return Verdict(allowed=counted.allowed, limit=window.limit.limit,
                       remaining=max(0, window.limit.limit - counted.count), reset=window.reset,
                       retry_after=max(1, math.ceil(window.reset - now)), window_s=window.limit.window_s,
                       cifer_id=window.cifer_id, never=counted.never, taken=counted.taken)

    async def refund(self, principal: str, verdict: Verdict, refused: Mapping[str, int] | None = None) -> Verdict:
        """Gives back what `verdict` counted: all of it, or (`refused`: cifer id -> headers of
        it refused for policy) those headers, from the principal's window and their cifers'.
        Returns the verdict the §8.2 headers then show. A store that fails keeps the count (it
        only costs the caller) and is logged."""
        back = [dataclasses.replace(w, cost=min(w.cost, sum(refused.values()) if w.cifer_id is None
                                                else refused.get(w.cifer_id, 0)))
                for w in verdict.taken] if refused is not None else list(verdict.taken)
        back = [w for w in back if w.cost > 0]
        if not back:
            return verdict
        counters = self.unauthenticated if back[0].category in UNAUTHENTICATED else self.counters
        try:
            await counters.give_back(principal, back)
        except counters.errors:
            log.exception("rate-limit counters unavailable; a refund is lost (the caller keeps the cost)")
            return verdict
        shown = next((w.cost for w in back if w.cifer_id == verdict.cifer_id), 0)
        return dataclasses.replace(verdict, remaining=min(verdict.limit, verdict.remaining + shown))

    def health_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """A Redis holding the counters is a dependency: without it limited routes answer 503."""
        return {"redis": self.counters.ping} if isinstance(self.counters, RedisCounters) else {}

    async def close(self) -> None:
        await self.counters.close()


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
VERDICT = web.RequestKey("rate_limit_verdict", Verdict)
REFUSED_FOR_POLICY = web.RequestKey("rate_limit_refused_for_policy", Counter)
"""Set by a batch handler that answers 200: headers of each cifer it refused for policy (403),
which the limiter then gives back."""


def _cifer_id(header: object) -> str | None:
    """The cifer a base64 envelope header names; None if it is no header (the handler refuses it)."""
    if not isinstance(header, str):
        return None
    try:
        return parse_header_exact(binascii.a2b_base64(header, strict_mode=True)).cifer_id
    except (binascii.Error, ValueError, InvalidCiphertext):
        return None


async def _costs(request: web.Request, endpoint, max_batch_headers: int) -> tuple[int, dict[str, int]]:
    """(decrypts the request costs: each header of a batch the handler will accept, else 1;
    headers of each cifer, for the cifers' own limits)."""
    try:
        body = await parse.json_object(request)
    except ApiError:  # the handler will refuse it
        return 1, {}
    headers = body.get("headers") if endpoint is DECAPSULATE else [body.get("header")]
    if not isinstance(headers, list) or not 1 <= len(headers) <= max_batch_headers:
        return 1, {}
    keys = Counter(cifer_id for cifer_id in map(_cifer_id, headers) if cifer_id is not None)
    return len(headers), dict(keys)


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
    cost, keys = 1, {}
    if endpoint is DECAPSULATE or endpoint is REWRAP:  # each header of a batch is one decrypt
        cost, keys = await _costs(request, endpoint, request.app[SECURITY_CONFIG].batch_limit)
        if cost > limit.limit:
            raise _too_many_headers(limit.limit, limit.window_s, "the decrypt rate limit")
    verdict = await limiter.take(principal, category, cost, workload=workload, keys=keys)
    if verdict.never:  # more headers of one cifer than its own limit allows in a whole window
        raise _too_many_headers(verdict.limit, verdict.window_s, f"the rate limit of {verdict.cifer_id}")
    request[VERDICT] = verdict
    if not verdict.allowed:
        details = {"limit": verdict.limit, "window": window_name(verdict.window_s), "retry_after": verdict.retry_after}
        if verdict.cifer_id is not None:
            details["cifer_id"] = verdict.cifer_id
        raise ApiError(ErrorCode.RATE_LIMIT_EXCEEDED,
                       f"Rate limit exceeded. Please retry after {verdict.retry_after} seconds.", details=details)
    try:
        resp = await handler(request)
    except ApiError as err:
        if err.code.status == 403:  # refused for scope, ownership or policy: no use of the category
            request[VERDICT] = await limiter.refund(principal, verdict)
        raise
    if REFUSED_FOR_POLICY in request:
        request[VERDICT] = await limiter.refund(principal, verdict, request[REFUSED_FOR_POLICY])
    return resp


def _too_many_headers(limit: int, window_s: int, whose: str) -> ApiError:
    """A batch larger than a whole window's limit could never pass: a 400, not a lying Retry-After."""
    return ApiError(ErrorCode.INVALID_REQUEST, f"headers: a batch may carry at most {limit} headers "
                                               f"({whose} per {window_name(window_s)})", details={"field": "headers"})


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the §8.2 headers (and Retry-After on a 429) on every response of
    a limited route, whichever middleware rendered it."""
    verdict = request.get(VERDICT)
    if verdict is not None:
        response.headers.update(verdict.headers())
