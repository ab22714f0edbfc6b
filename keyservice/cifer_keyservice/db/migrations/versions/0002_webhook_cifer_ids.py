"""webhooks.cifer_ids: deliver only events about these cifers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite >= 3.35 drops a column in place): a batch "move and
# copy" of `webhooks` would trip the foreign keys of `deliveries`, which SQLite enforces here.


def upgrade() -> None:
    # Nullable, no default: every existing webhook keeps receiving events about all its owner's cifers.
    op.add_column('webhooks', sa.Column('cifer_ids', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.drop_column('webhooks', 'cifer_ids')
