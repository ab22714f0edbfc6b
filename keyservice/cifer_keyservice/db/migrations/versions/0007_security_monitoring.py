"""Seed 001's monitoring: security alerts, generated report files, the encryption configuration,
and an index on audit_log (cifer_id, at) for a key's usage over a period

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('security_alerts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('detector', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('cifer_id', sa.String(length=64), nullable=True),
    sa.Column('principal', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('affected_operations', sa.BigInteger(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('open_key', sa.String(length=400), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=255), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_key')
    )
    op.create_index(op.f('ix_security_alerts_cifer_id'), 'security_alerts', ['cifer_id'], unique=False)
    op.create_index(op.f('ix_security_alerts_created_at'), 'security_alerts', ['created_at'], unique=False)
    op.create_table('security_reports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('owner_id', sa.String(length=255), nullable=False),
    sa.Column('report_type', sa.String(length=32), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_security_reports_expires_at'), 'security_reports', ['expires_at'], unique=False)
    op.create_table('security_config',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('config_id', sa.String(length=40), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_log_cifer_at', 'audit_log', ['cifer_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_cifer_at', table_name='audit_log')
    op.drop_table('security_config')
    op.drop_index(op.f('ix_security_reports_expires_at'), table_name='security_reports')
    op.drop_table('security_reports')
    op.drop_index(op.f('ix_security_alerts_created_at'), table_name='security_alerts')
    op.drop_index(op.f('ix_security_alerts_cifer_id'), table_name='security_alerts')
    op.drop_table('security_alerts')
