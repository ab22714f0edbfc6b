"""The database engine: SQLite in the data directory by default, PostgreSQL by DSN.

SQLite write transactions begin IMMEDIATE, so two writers queue on the busy timeout
instead of failing when a read lock cannot be upgraded; WAL lets readers go on meanwhile.
Sessions made with `read_only=True` are for queries that write nothing: on SQLite they issue
no BEGIN, so each statement reads a consistent snapshot of its own and no lock is ever held
between statements. Within one
process, SQLite writers also queue on an asyncio lock first: an await is far cheaper than
SQLite's busy handler, which sleeps 1, 2, 5, 10... ms; writers in other processes still meet
the busy timeout.

The SQLite file holds wrapped seeds, API-key hashes and the audit log: it is made 0600 before
SQLite opens it, and SQLite gives its -wal and -shm files the database file's mode; files left
looser by an older version are tightened at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from cifer.extras import require

SQLITE_FILE = "cifer.db"
SQLITE_BUSY_TIMEOUT_S = 30
_READ_ONLY = "cifer_read_only"
_WRITE_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # SQLite engine -> its writers' lock


def default_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / SQLITE_FILE}"


def normalize_url(url: str) -> str:
    """Accepts the DSNs users write (`postgresql://`, `postgres://`, `sqlite:///`) and picks
    the async driver; refuses other databases."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use PostgreSQL or SQLite")


def create_engine(url: str) -> AsyncEngine:
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "postgresql":
        require("asyncpg", extra="postgres", feature="a PostgreSQL database")  # SQLAlchemy would import it
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    _private_files(make_url(url).database)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    _WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    _sqlite_manners(engine.sync_engine)
    return engine


def _private_files(database: str | None) -> None:
    """The database file, made 0600 if missing, and it, its -wal and its -shm tightened to 0600."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        # Never opened here once it exists: closing any descriptor of the file drops every POSIX lock
        # this process holds on it, SQLite's included, and another process (an admin command) closing
        # the last connection it then believes it has would delete the WAL under this one's feet.
        pass
    for path in (database, f"{database}-wal", f"{database}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, 0o600)


def sqlite_thread_engine(engine: AsyncEngine, *, read_only: bool = False) -> tuple[Engine, asyncio.Lock | None]:
    """For a SQLite `engine`: a synchronous engine on the same file, for one thread that runs a
    whole transaction per call (no thread hop per statement), and, unless `read_only`, the lock
    this process's writers queue on."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_sync_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
                              pool_size=1, max_overflow=0)
    _sqlite_manners(sync)
    if read_only:
        return sync.execution_options(**{_READ_ONLY: True}), None
    return sync, _WRITE_LOCKS[engine.sync_engine]


def _sqlite_manners(engine: Engine) -> None:
    """WAL, foreign keys, the busy timeout, and write transactions that begin IMMEDIATE."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        if not connection.get_execution_options().get(_READ_ONLY, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class _QueuedWriters(async_sessionmaker):
    """Transactions (`begin()`) that take this process's SQLite write lock first."""

    def __init__(self, bind: AsyncEngine, *, lock: asyncio.Lock, **options) -> None:
        super().__init__(bind, **options)
        self._lock = lock

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator:
        async with self._lock, super().begin() as session:
            yield session


def sessions(engine: AsyncEngine, *, sync_session_class: type[Session] = Session, read_only: bool = False
             ) -> async_sessionmaker:
    """Sessions on `engine`; `read_only` ones are for queries that write nothing."""
    options = {"expire_on_commit": False, "sync_session_class": sync_session_class}
    if read_only:
        return async_sessionmaker(engine.execution_options(**{_READ_ONLY: True}), **options)
    lock = _WRITE_LOCKS.get(engine.sync_engine)
    if lock is None:
        return async_sessionmaker(engine, **options)
    return _QueuedWriters(engine, lock=lock, **options)
