"""Where rate-limit counts are kept (`cifer_keyservice.ratelimit` decides what to count and
answers): the windows a request is counted in, and three stores of their counters — the database
(`rate_limit_windows`, in the group commit), Redis (one script per request, every replica
together), and a replica's memory (the unauthenticated public-key fetch on the database store).
Every store takes all of a request's windows or none."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Integer, and_, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session

from cifer_keyservice.db.models import Cifer, RateLimitWindow
from cifer_keyservice.groupcommit import CommitFailed, GroupCommit
from cifer_keyservice.records import rate_limits_from_stored
from cifer_keyservice.settings import FixedWindow

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("cifer.keyservice.ratelimit")

CACHED_POLICIES = 10000  # most cifers whose own limits the Redis store remembers (all forgotten at once beyond)

# The Redis counters of one request: add each window's cost only if every window stays within
# its limit; on a refusal, report the first window that refused and whether this is its first
# refusal (SET NX of its flag). KEYS: counter and flag of each window. ARGV: cost, limit and
# seconds to keep the keys of each window. Returns {1, count of each window...} or
# {0, index of the refusing window (1-based), its count, first refusal 0|1}.
_REDIS_TAKE = """
for i = 1, #KEYS / 2 do
  local count = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  if count + tonumber(ARGV[3 * i - 2]) > tonumber(ARGV[3 * i - 1]) then
    local first = redis.call('SET', KEYS[2 * i], '1', 'NX', 'EX', ARGV[3 * i])
    if first then return {0, i, count, 1} end
    return {0, i, count, 0}
  end
end
local out = {1}
for i = 1, #KEYS / 2 do
  out[i + 1] = redis.call('INCRBY', KEYS[2 * i - 1], ARGV[3 * i - 2])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[3 * i])
end
return out
"""
# A refund: subtract each cost from its counter if the counter is still there (an expired one
# stays expired: DECRBY would recreate it without a TTL). KEYS: counters; ARGV: their costs.
_REDIS_GIVE_BACK = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return 0
"""



@dataclasses.dataclass(frozen=True)
class Window:
    """One counter a request is counted in: the principal's in a category, or the principal's
    with one cifer (`cifer_id`), whose counter is named `category:cifer_id`."""

    category: str  # the counter's category: `decrypt`, `workload_decrypt:cif_...`
    limit: FixedWindow
    start: int  # unix seconds, a multiple of limit.window_s
    cost: int
    cifer_id: str | None = None

    @classmethod
    def at(cls, now: float, category: str, limit: FixedWindow, cost: int, cifer_id: str | None = None) -> Window:
        counter = category if cifer_id is None else f"{category}:{cifer_id}"
        return cls(counter, limit, int(now) - int(now) % limit.window_s, cost, cifer_id)

    @property
    def reset(self) -> int:
        return self.start + self.limit.window_s

    def ttl_s(self, now: float) -> int:
        """Seconds a store that forgets by itself keeps the counter: past the window's end."""
        return max(1, math.ceil(self.reset - now)) + 1


@dataclasses.dataclass(frozen=True)
class Counted:
    """What a store answered: allowed or not, and the window the answer describes (the one that
    refused; else the one with the least left) with its count now. `never`: the window's whole
    limit is smaller than its cost, so no wait would help (nothing was counted)."""

    allowed: bool
    window: Window
    count: int
    never: bool = False
    taken: tuple[Window, ...] = ()  # the windows the request was counted in (none when refused)

    @classmethod
    def tightest(cls, counted: list[tuple[Window, int]]) -> Counted:
        window, count = min(counted, key=lambda each: each[0].limit.limit - each[1])
        return cls(True, window, count, taken=tuple(each for each, _ in counted))


Notify = Callable[[Session, Window], None]  # adds the quota.exceeded event of a window to a transaction


@dataclasses.dataclass(frozen=True)
class Take:
    """One request to count: the principal's window, and the headers it carries of each cifer
    (`keys`), counted against the cifer's own limit in `key_category` if its policy sets one."""

    principal: str
    window: Window
    notify: Notify | None
    now: float
    keys: tuple[tuple[str, int], ...] = ()  # (cifer_id, cost), sorted: one lock order for all
    key_category: str = ""

    def key_windows(self, limits: dict[str, dict[str, FixedWindow]]) -> list[Window]:
        """The windows of the cifers whose policy limits `key_category`; `limits`: by cifer id."""
        return [Window.at(self.now, self.key_category, limit, cost, cifer_id) for cifer_id, cost in self.keys
                if (limit := limits.get(cifer_id, {}).get(self.key_category)) is not None]


def _never(windows: list[Window]) -> Counted | None:
    """A window asked for more than its whole limit: refused without counting anything."""
    return next((Counted(False, w, 0, never=True) for w in windows if w.cost > w.limit.limit), None)


class Counters(Protocol):
    errors: tuple[type[Exception], ...]
    """What the store raises when it cannot count: the request is refused (fail closed)."""

    async def take(self, take: Take) -> Counted:
        """Adds each window's cost if every window stays within its limit (the principal's, and
        those of the cifers whose policy sets one), else adds nothing. On a window's first
        refusal, runs `notify` in a transaction."""

    async def give_back(self, principal: str, windows: list[Window]) -> None:
        """Subtracts each window's cost from its counter, if the counter still exists (a
        refund of what a take of this principal added to it)."""

    async def delete_ended(self, before: int) -> None:
        """Forgets windows that started before `before` (unix seconds)."""

    async def close(self) -> None: ...


def _window_statements(insert) -> tuple:
    """(add `cost` if the window stays within `limit`, returning the count; mark the window's
    first refusal, returning the count; read the count; take `cost` back), built once: they
    run on every request."""
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
    give_back = update(table).where(key).values(count=table.c.count - cost)
    return add, refuse_first, select(table.c.count).where(key), give_back


_WINDOW_STATEMENTS = {"postgresql": _window_statements(pg_insert), "sqlite": _window_statements(sqlite_insert)}
_KEY_LIMITS = select(Cifer.id, Cifer.policy).where(Cifer.id.in_(bindparam("ids", expanding=True)))


def key_limits(session: Session, cifer_ids: set[str]) -> dict[str, dict[str, FixedWindow]]:
    """The `policy.rate_limits` of these cifers that set any, by cifer id (one statement)."""
    if not cifer_ids:
        return {}
    rows = session.execute(_KEY_LIMITS, {"ids": sorted(cifer_ids)}).all()
    return {cifer_id: limits for cifer_id, policy in rows
            if (limits := rate_limits_from_stored((policy or {}).get("rate_limits")))}


def _params(principal: str, window: Window) -> dict:
    return {"b_principal": principal, "b_category": window.category, "b_window_start": window.start}


class DatabaseCounters:
    """`rate_limit_windows`: atomic upsert-increments on PostgreSQL and SQLite (≥ 3.35), written in
    the group commit (`groupcommit.py`): concurrent requests' counts share one transaction, and
    the requests of one window in a group are counted by one statement when they all fit. The
    cifers' own limits are read in that transaction, one statement for the group."""

    errors = (SQLAlchemyError, OSError, CommitFailed)

    def __init__(self, sessions: async_sessionmaker, group: GroupCommit | None = None) -> None:
        self._sessions = sessions
        self._group = group

    async def take(self, take: Take) -> Counted:
        if self._group is not None:
            return await self._group.submit(self._take_many, take)
        async with self._sessions.begin() as session:
            return (await session.run_sync(self._take_many, [take]))[0]

    def _take_many(self, session: Session, takes: list[Take]) -> list[Counted]:
        """The answer to each take, in order (a `GroupCommit` writer)."""
        statements = _WINDOW_STATEMENTS[session.get_bind().dialect.name]
        limits = key_limits(session, {cifer_id for take in takes for cifer_id, _ in take.keys})
        results: list[Counted | None] = [None] * len(takes)
        # Units in one order for every transaction (principal, category, window), so that
        # concurrent groups lock rows alike: a take with its cifers' windows alone, all or
        # nothing; the other takes of one window together.
        keyed: list[tuple[tuple, int, list[Window]]] = []
        by_window: dict[tuple, list[int]] = {}
        for index, take in enumerate(takes):
            order = (take.principal, take.window.category, take.window.start)
            windows = take.key_windows(limits)
            if windows:
                keyed.append((order, index, [take.window, *windows]))
            else:
                by_window.setdefault(order, []).append(index)
        units = sorted([(order, 0, indexes) for order, indexes in by_window.items()]
                       + [(order, 1, (index, windows)) for order, index, windows in keyed], key=lambda u: u[:2])
        for _, many, unit in units:
            if many:
                index, windows = unit
                results[index] = self._take_all(session, statements, takes[index], windows)
            else:
                self._take_window(session, statements, takes, unit, results)
        return results

    def _take_window(self, session: Session, statements: tuple, takes: list[Take], indexes: list[int],
                     results: list[Counted | None]) -> None:
        """Takes of one window: one statement when they all fit, else one by one in arrival order."""
        first = takes[indexes[0]]
        window = first.window
        total = sum(takes[i].window.cost for i in indexes)
        count = None
        if total <= window.limit.limit:  # (a new window's row is inserted unchecked)
            count = session.execute(statements[0], {**_params(first.principal, window), "b_cost": total,
                                                    "b_limit": window.limit.limit}).scalar_one_or_none()
        if count is not None:  # all of them fit: each sees the count as it was after its own
            for index in reversed(indexes):
                results[index] = Counted(True, takes[index].window, count, taken=(takes[index].window,))
                count -= takes[index].window.cost
            return
        for index in indexes:
            results[index] = self._take_all(session, statements, takes[index], [takes[index].window])

    @staticmethod
    def _take_all(session: Session, statements: tuple, take: Take, windows: list[Window]) -> Counted:
        add, refuse_first, read, give_back = statements
        never = _never(windows)
        if never is not None:
            return never
        taken: list[tuple[Window, int]] = []
        for window in windows:
            params = _params(take.principal, window)
            count = session.execute(add, {**params, "b_cost": window.cost,
                                          "b_limit": window.limit.limit}).scalar_one_or_none()
            if count is not None:
                taken.append((window, count))
                continue
            for done, _ in taken:  # all or nothing (the rows stay locked by this transaction)
                session.execute(give_back, {**_params(take.principal, done), "b_cost": done.cost})
            first = session.execute(refuse_first, params).scalar_one_or_none()
            if first is not None:
                if take.notify is not None:
                    take.notify(session, window)
                return Counted(False, window, first)
            return Counted(False, window, session.execute(read, params).scalar_one())
        return Counted.tightest(taken)

    async def give_back(self, principal: str, windows: list[Window]) -> None:
        # Its own short transaction, not the group's: a refund that fails (a lock timeout, a
        # deadlock) leaves the cost counted, and fails nothing else. Rows in the takes' order.
        async with self._sessions.begin() as session:
            give_back = _WINDOW_STATEMENTS[session.bind.dialect.name][3]
            await session.execute(give_back, [{**_params(principal, w), "b_cost": w.cost}
                                              for w in sorted(windows, key=lambda w: (w.category, w.start))])

    async def delete_ended(self, before: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(RateLimitWindow).where(RateLimitWindow.window_start < before))

    async def close(self) -> None:
        pass


class RedisCounters:
    """A Lua script per request (atomic on the server); keys expire at their window's end.
    `quota.exceeded` is written to the database's outbox after Redis granted the first refusal,
    so a database failure just then loses that one notice (at most once, never twice). The
    cifers' own limits come from the database, remembered for `policy_cache_s`."""

    def __init__(self, client: aioredis.Redis, sessions: async_sessionmaker, *, prefix: str,
                 policy_cache_s: float = 5.0) -> None:
        self._client = client
        self._sessions = sessions
        self._prefix = prefix
        self._script = client.register_script(_REDIS_TAKE)
        self._give_back = client.register_script(_REDIS_GIVE_BACK)
        self._policy_cache_s = policy_cache_s
        self._limits: dict[str, tuple[float, dict[str, FixedWindow]]] = {}  # cifer id -> (read at, limits)
        from redis.exceptions import RedisError  # installed: `client` is redis's
        self.errors = (SQLAlchemyError, RedisError, OSError)

    def key(self, principal: str, category: str, window_start: int) -> str:
        # The braces are a Redis Cluster hash tag: all of a principal's counters and flags share
        # a slot, so that one script may count several of them.
        return f"{self._prefix}{{{principal}}}:{category}:{window_start}"

    async def _key_limits(self, cifer_ids: set[str]) -> dict[str, dict[str, FixedWindow]]:
        now = time.monotonic()
        missing = {i for i in cifer_ids if i not in self._limits or now - self._limits[i][0] >= self._policy_cache_s}
        if missing:
            async with self._sessions() as session:
                found = await session.run_sync(key_limits, missing)
            if len(self._limits) > CACHED_POLICIES:
                self._limits.clear()
            self._limits.update((i, (now, found.get(i, {}))) for i in missing)
        return {i: self._limits[i][1] for i in cifer_ids}

    async def take(self, take: Take) -> Counted:
        limits = await self._key_limits({cifer_id for cifer_id, _ in take.keys}) if take.keys else {}
        windows = [take.window, *take.key_windows(limits)]
        never = _never(windows)
        if never is not None:
            return never
        keys, args = [], []
        for window in windows:
            counter = self.key(take.principal, window.category, window.start)
            keys += [counter, counter + ":notified"]
            args += [window.cost, window.limit.limit, window.ttl_s(take.now)]
        allowed, *rest = await self._script(keys=keys, args=args)
        if allowed:
            return Counted.tightest([(window, int(count)) for window, count in zip(windows, rest)])
        index, count, first = (int(each) for each in rest)
        window = windows[index - 1]
        if first and take.notify is not None:
            async with self._sessions.begin() as session:
                await session.run_sync(take.notify, window)
        return Counted(False, window, count)

    async def give_back(self, principal: str, windows: list[Window]) -> None:
        await self._give_back(keys=[self.key(principal, w.category, w.start) for w in windows],
                              args=[w.cost for w in windows])

    async def delete_ended(self, before: int) -> None:
        pass  # EXPIRE did it

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


class MemoryCounters:
    """Counters this replica holds alone, for the unauthenticated public-key fetch (counted per
    peer address) when the other counters live in the database: a fetch is no use of a key and
    writes nothing to the database (issue 15). Each replica counts its own, so N replicas let one
    address fetch N times the limit; with Redis configured, the fetch is counted there by every
    replica together. At most MAX_COUNTERS windows are held: ended ones are forgotten first, then
    the oldest (whose address starts again from zero: a looser limit on a public read, never a
    refusal of a caller that kept within it)."""

    errors: tuple[type[Exception], ...] = ()
    MAX_COUNTERS = 100_000

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], tuple[int, int]] = {}  # -> (count, window end)

    async def take(self, take: Take) -> Counted:
        window = take.window
        never = _never([window])
        if never is not None:
            return never
        key = (take.principal, window.category, window.start)
        count = self._counts.get(key, (0, window.reset))[0]
        if count + window.cost > window.limit.limit:
            return Counted(False, window, count)
        if key not in self._counts and len(self._counts) >= self.MAX_COUNTERS:
            self._forget(take.now)
        self._counts[key] = (count + window.cost, window.reset)
        return Counted(True, window, count + window.cost, taken=(window,))

    def __len__(self) -> int:
        return len(self._counts)

    def _forget(self, now: float) -> None:
        for key in [key for key, (_, end) in self._counts.items() if end <= now]:
            del self._counts[key]
        while len(self._counts) >= self.MAX_COUNTERS:  # oldest first: dicts keep insertion order
            del self._counts[next(iter(self._counts))]

    async def give_back(self, principal: str, windows: list[Window]) -> None:
        for window in windows:
            key = (principal, window.category, window.start)
            if key in self._counts:
                count, end = self._counts[key]
                self._counts[key] = (max(0, count - window.cost), end)

    async def delete_ended(self, before: int) -> None:
        for key in [key for key in self._counts if key[2] < before]:
            del self._counts[key]

    async def close(self) -> None:
        pass


