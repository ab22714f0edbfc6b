"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and go back down."""

from __future__ import annotations

import datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from cifer_keyservice.db import migrate
from cifer_keyservice.db.engine import create_engine
from cifer_keyservice.db.models import EXPRESSION_INDEXES, AuditRecord, Base, Delivery, OutboxEvent, Webhook


def _diff(connection):
    """The differences, but for the expression indexes, which Alembic cannot compare (it skips them on
    SQLite and misreads them on PostgreSQL): test_the_expression_indexes_serve_the_audit_query has them."""
    def compared(obj, name, kind, reflected, compare_to) -> bool:
        return not (kind == "index" and name in EXPRESSION_INDEXES)
    return compare_metadata(MigrationContext.configure(connection, opts={"include_object": compared}), Base.metadata)


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


def _downgrade_to(connection, revision: str) -> None:
    config = migrate._config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_the_webhook_filter_migration_goes_down_and_up_again_with_rows_in_place(database_url):
    engine = create_engine(database_url)
    now = datetime.datetime.now(datetime.UTC)
    try:
        await migrate.upgrade(engine)
        async with engine.begin() as conn:  # a webhook with a filter, and a delivery that points at it
            await conn.execute(insert(Webhook).values(id="wh_one", owner_id="usr_alice", url="https://x.example/h",
                                                      events=["cifer.created"], cifer_ids=["cif_" + "A" * 24],
                                                      encrypted_secret=b"sealed", created_at=now))
            await conn.execute(insert(OutboxEvent).values(id="evt_one", type="cifer.created", owner_id="usr_alice",
                                                          payload={}, created_at=now))
            await conn.execute(insert(Delivery).values(event_id="evt_one", webhook_id="wh_one", status="pending",
                                                       attempts=0, next_attempt_at=now))
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to, "0001")
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("webhooks")})
            assert "cifer_ids" not in columns
            assert (await conn.execute(text("SELECT count(*) FROM deliveries"))).scalar_one() == 1
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            [row] = (await conn.execute(select(Webhook.id, Webhook.cifer_ids))).all()
            assert tuple(row) == ("wh_one", None)  # an old webhook hears about every cifer
    finally:
        await engine.dispose()


async def test_the_expression_indexes_serve_the_audit_query(database_url):
    """The user's and the data type's indexes exist, and the database's planner reads them for the
    encryption audit's conditions (activity.USER_ID, activity.DATA_TYPE): the same expressions."""
    from cifer_keyservice import activity
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: {ix["name"] for ix in inspect(sync).get_indexes("audit_log")})
            assert set(EXPRESSION_INDEXES) <= names or conn.dialect.name == "sqlite"  # SQLite's inspector skips them
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET enable_seqscan = off"))  # an empty table: the plan, not the cost
            for expression, index in ((activity.USER_ID, "ix_audit_log_user_id"),
                                      (activity.DATA_TYPE, "ix_audit_log_data_type")):
                query = select(AuditRecord.seq).where(expression == "someone")
                compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
                plan = " ".join(str(row) for row in (await conn.execute(text(prefix + str(compiled)))).all())
                assert index in plan, plan
    finally:
        await engine.dispose()
