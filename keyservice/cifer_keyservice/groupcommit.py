"""Group commit: the writes of concurrent requests (decrypt audit records, usage counters,
rate-limit counters) coalesced into one transaction.

A request hands `submit` a writer and its item, and waits. One committer task per process takes
what is waiting — at most `max_items`, lingering at most `max_wait_s` after the first arrival
so that concurrent requests can join — opens one transaction, calls each writer once with all
its items of the group (writers in the order they first joined; items in arrival order, so a
writer turns the whole group into a few large statements), and commits. Only then is each
waiting request answered with its item's result.

Writers are synchronous, so a whole group's transaction is one call: on SQLite it runs in one
dedicated writer thread owning its own connection (one thread hop per group, not one per
statement, which cost more than the SQL under load); on PostgreSQL, in the event loop through
`run_sync` (asyncpg has no thread to hop to).

Fail closed, per item: if anything in the group fails, the transaction rolls back and every
request of the group gets `CommitFailed` — no request is told "written" for a write that did
not happen (the decapsulation service then releases no key: no audit record, no key).
Groups commit one after another, so the audit records they append keep commit order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from cifer_keyservice.db.engine import sqlite_thread_engine

log = logging.getLogger("cifer.keyservice.groupcommit")

Writer = Callable[[Session, list[Any]], list[Any]]
"""Writes a group's items inside its transaction; returns one result per item, in order."""
Work = Callable[[Session], list[Any]]


class CommitFailed(Exception):
    """The group's transaction did not commit: nothing of it was written."""


class _InLoop:
    """Transactions in the event loop (PostgreSQL), or wherever `sessions` lead."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def run(self, work: Work) -> list[Any]:
        async with self._sessions.begin() as session:
            return await session.run_sync(work)

    def close(self) -> None:
        pass


class _SqliteThread:
    """Transactions in one thread owning its own SQLite connection; writes queue behind this
    process's other SQLite writers (the engine's write lock), reads (`read_only`) behind nothing."""

    def __init__(self, engine: AsyncEngine, session_class: type[Session], *, read_only: bool) -> None:
        self._engine, self._lock = sqlite_thread_engine(engine, read_only=read_only)
        self._sessions = sessionmaker(self._engine, class_=session_class, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cifer-sqlite-" + ("reader" if read_only else "writer"))

    async def run(self, work: Work) -> list[Any]:
        if self._lock is None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, work)
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, work)

    def _transaction(self, work: Work) -> list[Any]:
        with self._sessions.begin() as session:
            return work(session)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()


class GroupCommit:
    def __init__(self, runner: _InLoop | _SqliteThread, *, max_items: int, max_wait_s: float) -> None:
        if max_items < 1 or max_wait_s < 0:
            raise ValueError("a group commit needs max_items >= 1 and max_wait_s >= 0")
        self._runner = runner
        self._max_items = max_items
        self._max_wait_s = max_wait_s
        self._waiting: list[tuple[Writer, Any, asyncio.Future]] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.groups = 0
        """Transactions committed or attempted: tests and the benchmark read how well requests coalesce."""

    @property
    def depth(self) -> int:
        """Writes waiting for a transaction: the queue of key releases waiting for their audit records."""
        return len(self._waiting)

    @classmethod
    def create(cls, engine: AsyncEngine, sessions: async_sessionmaker, *, max_items: int, max_wait_s: float,
               read_only: bool = False) -> GroupCommit:
        """On SQLite, a thread of its own (with `sessions`' session class); else `sessions`.
        `read_only`: groups of reads (on SQLite: no BEGIN, no write lock)."""
        if engine.dialect.name != "sqlite":
            return cls(_InLoop(sessions), max_items=max_items, max_wait_s=max_wait_s)
        session_class = sessions.kw.get("sync_session_class", Session)
        return cls(_SqliteThread(engine, session_class, read_only=read_only), max_items=max_items,
                   max_wait_s=max_wait_s)

    @classmethod
    def in_loop(cls, sessions: async_sessionmaker, *, max_items: int, max_wait_s: float) -> GroupCommit:
        """Transactions from `sessions`, in the event loop."""
        return cls(_InLoop(sessions), max_items=max_items, max_wait_s=max_wait_s)

    async def submit(self, writer: Writer, item: Any) -> Any:
        """`writer`'s result for `item`, once the group it joined has committed; CommitFailed otherwise."""
        if self._task is None:  # started in the serving loop, on first use
            self._task = asyncio.create_task(self._run(), name="cifer-group-commit")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((writer, item, future))
        self._arrived.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if self._max_wait_s and len(self._waiting) < self._max_items:
                await asyncio.sleep(self._max_wait_s)
            group, self._waiting = self._waiting[:self._max_items], self._waiting[self._max_items:]
            if not self._waiting:
                self._arrived.clear()
            await self._commit(group)

    async def _commit(self, group: list[tuple[Writer, Any, asyncio.Future]]) -> None:
        self.groups += 1
        by_writer: dict[Writer, list[int]] = {}
        for index, (writer, _, _) in enumerate(group):
            by_writer.setdefault(writer, []).append(index)

        def work(session: Session) -> list[Any]:
            results: list[Any] = [None] * len(group)
            for writer, indexes in by_writer.items():
                written = writer(session, [group[i][1] for i in indexes])
                if len(written) != len(indexes):
                    raise RuntimeError("internal error: a group writer answered for a different number of items")
                for index, result in zip(indexes, written):
                    results[index] = result
            return results

        try:
            results = await self._runner.run(work)
        except BaseException as exc:  # whatever broke the transaction (or stopped it) refuses every item of it
            log.error("a group commit of %d items failed: %s", len(group), type(exc).__name__)
            for _, _, future in group:
                if not future.done():
                    failed = CommitFailed("the group's transaction did not commit")
                    failed.__cause__ = exc
                    future.set_exception(failed)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), result in zip(group, results):
            if not future.done():  # a request cancelled meanwhile (client gone) was still written
                future.set_result(result)

    async def close(self) -> None:
        """Stops the committer; requests still waiting are refused (nothing of theirs is written)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        waiting, self._waiting = self._waiting, []
        for _, _, future in waiting:
            if not future.done():
                future.set_exception(CommitFailed("the key service is stopping"))
        self._runner.close()
