"""The two databases every key-service test runs on: SQLite in a temporary directory and a
fresh PostgreSQL database on the machine's server (127.0.0.1:5432, trust auth), dropped after."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get("CIFER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A DSN of an empty database of each kind; PostgreSQL must be reachable (never skipped)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cifer.db'}"
        return
    name = f"cifer_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is needed for the key-service tests: {exc}", pytrace=False)
    yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
