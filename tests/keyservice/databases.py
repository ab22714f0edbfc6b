"""The two databases every key-service test runs on: SQLite in a temporary directory and a
fresh PostgreSQL database on the machine's server (127.0.0.1:5432, trust auth), dropped after."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get("CIFER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def temporary_postgres_database(prefix: str = "cifer_test") -> Iterator[str]:
    """A DSN of a new, empty PostgreSQL database, dropped on the way out; fails (never skips)
    when the server cannot be reached."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is needed for the key-service tests: {exc}", pytrace=False)
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A DSN of an empty database of each kind; PostgreSQL must be reachable (never skipped)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cifer.db'}"
        return
    with temporary_postgres_database() as dsn:
        yield dsn
