"""rate_limit_windows.category: room for a cifer's own windows (`workload_decrypt:cif_...`)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


# Batch mode: SQLite cannot alter a column's type in place; the table has no foreign keys, so
# its "move and copy" is safe (on PostgreSQL it is a plain ALTER TABLE).


def upgrade() -> None:
    with op.batch_alter_table('rate_limit_windows') as batch:
        batch.alter_column('category', existing_type=sa.String(32), type_=sa.String(100), existing_nullable=False)


def downgrade() -> None:
    # Windows of a cifer's own limit do not fit the old column: forget them (they last a day at most).
    op.execute("DELETE FROM rate_limit_windows WHERE category LIKE '%:%'")
    with op.batch_alter_table('rate_limit_windows') as batch:
        batch.alter_column('category', existing_type=sa.String(100), type_=sa.String(32), existing_nullable=False)
