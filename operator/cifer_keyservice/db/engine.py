"""The database engine: SQLite in the data directory by default, PostgreSQL by DSN.

SQLite write transactions begin IMMEDIATE, so two writers queue on the busy timeout
instead of failing when a read lock cannot be upgraded; WAL lets readers go on meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

SQLITE_FILE = "cifer.db"
SQLITE_BUSY_TIMEOUT_S = 30


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
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def sessions(engine: AsyncEngine, *, sync_session_class: type[Session] = Session) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=sync_session_class)
