"""`X-Idempotency-Key` on POST requests (seed §2.2), the way Stripe treats it, and on PATCH
requests (CIFER's updates), so that an operator's retried update is a replay too.

- The key: 1 to 255 printable ASCII characters, else 400 INVALID_REQUEST naming the header.
  Keys belong to a principal: two callers never share one.
- The first request with a key claims it (an in-progress row in `idempotency_keys`, inserted
  atomically, so of two replicas only one wins) and its response — status and body bytes — is
  kept for `idempotency_ttl_s`. A later request with the same key and the same request (method,
  path and SHA-256 of the body) gets those bytes back with `Idempotent-Replayed: true`, and
  nothing is done twice.
- The same key with another request: 400 INVALID_REQUEST, details `{"header": "X-Idempotency-Key"}`.
- The same key while its first request is still running: 400 INVALID_REQUEST "a request with
  this idempotency key is in progress" (Stripe answers 409; the seed has no code for it). The
  client retries later. A claim whose request never finished (a crashed replica) is abandoned
  after `IN_PROGRESS_TIMEOUT_S`.
- Kept: 2xx and 4xx responses, whose outcome is final. Not kept: 5xx and 429 (retrying is the
  point), and anything that is not a JSON body; the claim is released so the next try runs afresh.
- Never kept: the responses of endpoints declared `keeps_replays=False`, which carry data keys — the
  database must not hold them outside the KEK. Decapsulation and rewrap change nothing a repeat
  could double, so their key is checked for form and otherwise ignored.
- Expired rows are deleted on 1 claim in `CLEANUP_EVERY`; until then an expired row is not
  replayed but replaced.
- A replay is free: this middleware sits before the rate limiter, so a replay is answered
  without being counted (ratelimit.py, "What counts").
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import random
import re

from aiohttp import web
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.api import response
from cifer.api.endpoints import KEYSERVICE, endpoint_of
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.schemas import REPLAYED_HEADER
from cifer_keyservice.auth.principal import PRINCIPAL
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import IdempotencyRecord

log = logging.getLogger("cifer.keyservice.idempotency")

HEADER = "X-Idempotency-Key"
METHODS = frozenset({"POST", "PATCH"})  # the methods whose effect a repeat could double or reorder
IN_PROGRESS = 0  # `status` of a claimed key whose response is not known yet
IN_PROGRESS_TIMEOUT_S = 300  # a claim older than this belongs to a request that died
CLEANUP_EVERY = 100
_KEY = re.compile(r"[\x20-\x7e]{1,255}")


@dataclasses.dataclass(frozen=True)
class Replay:
    status: int
    body: bytes


def _refused(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message, details={"header": HEADER})


class IdempotencyStore:
    """Claims, completes and replays keys in `idempotency_keys`, shared by all replicas."""

    def __init__(self, sessions: async_sessionmaker, *, ttl_s: int) -> None:
        self._sessions = sessions
        self._ttl = datetime.timedelta(seconds=ttl_s)

    def _stale(self, now: datetime.datetime):
        """Rows that no longer count: expired, or claimed by a request that never finished."""
        t = IdempotencyRecord
        abandoned = now - datetime.timedelta(seconds=IN_PROGRESS_TIMEOUT_S)
        return or_(t.created_at <= now - self._ttl, and_(t.status == IN_PROGRESS, t.created_at <= abandoned))

    async def claim(self, principal: str, key: str, fingerprint: str) -> Replay | None:
        """None: the key is ours, run the request. A Replay: answer with it. Raises 400 for
        a key used with another request or still in progress."""
        t = IdempotencyRecord
        this = and_(t.principal == principal, t.key == key)
        for _ in range(3):
            now = utcnow()
            async with self._sessions.begin() as session:
                insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
                claimed = (await session.execute(
                    insert(t).values(principal=principal, key=key, request_hash=fingerprint, status=IN_PROGRESS,
                                     body=b"", created_at=now)
                    .on_conflict_do_nothing(index_elements=[t.principal, t.key]).returning(t.key)
                )).scalar_one_or_none()
                if claimed is not None:
                    if random.randrange(CLEANUP_EVERY) == 0:
                        await session.execute(delete(t).where(t.created_at <= now - self._ttl))
                    return None
                stale = (await session.execute(delete(t).where(this, self._stale(now)))).rowcount
                if stale:
                    continue  # replaced in the next round
                row = (await session.execute(select(t.request_hash, t.status, t.body).where(this))).one_or_none()
            if row is None:
                continue  # released meanwhile
            if row.request_hash != fingerprint:
                raise _refused(f"{HEADER}: this key was used with a different request")
            if row.status == IN_PROGRESS:
                raise _refused("a request with this idempotency key is in progress")
            return Replay(row.status, row.body)
        raise _refused("a request with this idempotency key is in progress")

    async def complete(self, principal: str, key: str, fingerprint: str, status: int, body: bytes) -> None:
        t = IdempotencyRecord
        async with self._sessions.begin() as session:
            await session.execute(update(t).where(
                t.principal == principal, t.key == key, t.request_hash == fingerprint, t.status == IN_PROGRESS,
            ).values(status=status, body=body))

    async def release(self, principal: str, key: str, fingerprint: str) -> None:
        t = IdempotencyRecord
        async with self._sessions.begin() as session:
            await session.execute(delete(t).where(
                t.principal == principal, t.key == key, t.request_hash == fingerprint, t.status == IN_PROGRESS,
            ))


IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)


def fingerprint_of(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(f"{method} {path}\n".encode() + hashlib.sha256(body).digest()).hexdigest()


def _kept(resp: web.StreamResponse) -> bool:
    return (
        isinstance(resp, web.Response) and isinstance(resp.body, bytes) and resp.content_type == "application/json"
        and (200 <= resp.status < 300 or 400 <= resp.status < 500 and resp.status != 429)
    )


@web.middleware
async def idempotent(request: web.Request, handler):
    """After authentication, before rate limiting: replays a key's first response."""
    if request.method not in METHODS or HEADER not in request.headers:
        return await handler(request)
    key = request.headers[HEADER]
    if not _KEY.fullmatch(key):
        raise _refused(f"{HEADER}: must be 1 to 255 printable ASCII characters")
    endpoint = endpoint_of(request, KEYSERVICE)
    principal = request.get(PRINCIPAL)
    if endpoint is None or not endpoint.keeps_replays or principal is None:
        return await handler(request)
    store = request.app[IDEMPOTENCY]
    fingerprint = fingerprint_of(request.method, request.path_qs, await request.read())
    replay = await store.claim(principal.id, key, fingerprint)
    if replay is not None:
        return web.Response(status=replay.status, body=replay.body, content_type="application/json",
                            headers={REPLAYED_HEADER: "true"})
    try:
        try:
            resp = await handler(request)
        except ApiError as err:  # rendered here, by the one error renderer, so that a 4xx can be kept
            resp = response.error(request, err)
    except BaseException:
        await _release(store, principal.id, key, fingerprint)
        raise
    if _kept(resp):
        try:
            await store.complete(principal.id, key, fingerprint, resp.status, resp.body)
        except Exception:  # the work is done and the caller gets its answer; the claim lapses
            log.exception("could not keep a response for its idempotency key")
    else:
        await _release(store, principal.id, key, fingerprint)
    return resp


async def _release(store: IdempotencyStore, principal: str, key: str, fingerprint: str) -> None:
    try:
        await store.release(principal, key, fingerprint)
    except Exception:  # the claim then lapses after IN_PROGRESS_TIMEOUT_S
        log.exception("could not release an idempotency key")
