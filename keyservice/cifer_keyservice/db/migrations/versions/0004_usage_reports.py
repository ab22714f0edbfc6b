"""Usage that tells the truth: cifers count the encryptions sidecars report (not public-key
fetches), with their bytes; `usage_reports` remembers which reports were counted.

`key_fetches` becomes `encryptions` and starts again from 0: what it held was the number of
public-key fetches, which says nothing of how many encryptions a cached key made.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A native rename on both databases (SQLite >= 3.25): no table copy under cifer_versions' foreign key.
    op.execute("ALTER TABLE cifers RENAME COLUMN key_fetches TO encryptions")
    op.execute("UPDATE cifers SET encryptions = 0")
    op.add_column('cifers', sa.Column('encrypted_bytes', sa.BigInteger(), nullable=False, server_default='0'))
    op.create_table('usage_reports',
    sa.Column('principal', sa.String(length=255), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('principal', 'report_id')
    )
    op.create_index(op.f('ix_usage_reports_received_at'), 'usage_reports', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_usage_reports_received_at'), table_name='usage_reports')
    op.drop_table('usage_reports')
    op.execute("ALTER TABLE cifers DROP COLUMN encrypted_bytes")  # native on SQLite >= 3.35
    op.execute("ALTER TABLE cifers RENAME COLUMN encryptions TO key_fetches")
