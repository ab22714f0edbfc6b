"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cifer_keyservice.db import migrate
from cifer_keyservice.db.engine import create_engine
from cifer_keyservice.db.models import Base


def _diff(connection):
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


async def test_migrations_build_the_models_schema_and_are_idempotent(database_url):
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)  # a second replica starting later finds nothing to do
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


def test_only_postgresql_and_sqlite_are_accepted():
    import pytest
    from cifer_keyservice.db.engine import normalize_url
    assert normalize_url("postgres://u@h/db").startswith("postgresql+asyncpg://")
    assert normalize_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    with pytest.raises(ValueError):
        normalize_url("mysql://u@h/db")
