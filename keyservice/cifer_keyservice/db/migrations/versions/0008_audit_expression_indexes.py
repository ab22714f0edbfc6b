"""Indexes on the user and the data type that seed 001's records name (audit_log.details), so that
the encryption audit filtered by user or data type reads an index instead of every record; and no
more indexes on audit_log.operation and audit_log.outcome

The indexed expressions are exactly those the queries use (cifer_keyservice.activity), written by
db/json_text.py for each database: SQLite and PostgreSQL use an expression index only for the same
expression.
`operation` (a handful of values) and `outcome` (three) select little; without statistics SQLite
took them for selective and walked a million records by `operation` where the `at` or
`(cifer_id, at)` index reads a few hundred (measured: 450 ms against 1 ms). Every query that filters
on them also filters on time, a key or a principal, which are indexed; and appends get cheaper.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa

from cifer_keyservice.db.json_text import json_text


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None
INDEXED = (("ix_audit_log_user_id", "user_id"), ("ix_audit_log_data_type", "data_type"))


def upgrade() -> None:
    table = sa.Table("audit_log", sa.MetaData(), sa.Column("details", sa.JSON))
    for name, key in INDEXED:
        sa.Index(name, json_text(table.c.details, key)).create(op.get_bind())
    op.drop_index("ix_audit_log_operation", table_name="audit_log")
    op.drop_index("ix_audit_log_outcome", table_name="audit_log")


def downgrade() -> None:
    op.create_index("ix_audit_log_outcome", "audit_log", ["outcome"])
    op.create_index("ix_audit_log_operation", "audit_log", ["operation"])
    for name, _ in INDEXED:
        op.drop_index(name, table_name="audit_log")
