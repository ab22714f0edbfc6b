"""cifers.aead, cifers.expires_at and an index on cifers.name: the payload AEAD a cifer's envelopes are sealed with, and
the instant after which it no longer encrypts (data-protection seed: `algorithm`, `expiresAt`)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every cifer made before this sealed its payloads with AES-256-GCM and never expired.
    op.add_column('cifers', sa.Column('aead', sa.String(32), nullable=False, server_default='AES-256-GCM'))
    op.add_column('cifers', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_cifers_name', 'cifers', ['name'])  # seed 001 finds a user's key by its name


def downgrade() -> None:
    op.drop_index('ix_cifers_name', 'cifers')
    with op.batch_alter_table('cifers') as batch:
        batch.drop_column('expires_at')
        batch.drop_column('aead')
