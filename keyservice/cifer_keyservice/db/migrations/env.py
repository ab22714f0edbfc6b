"""Alembic's environment: the service hands in its own connection (`migrate.upgrade`);
with none, a `sqlalchemy.url` is used (only when a developer autogenerates a revision)."""

from alembic import context
from sqlalchemy import create_engine

from cifer_keyservice.db.models import Base, UtcDateTime

config = context.config


def render_item(type_, obj, autogen_context):
    """Migrations are frozen: write our TypeDecorator as the plain column type it stores."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False

connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item)
        with context.begin_transaction():
            context.run_migrations()
