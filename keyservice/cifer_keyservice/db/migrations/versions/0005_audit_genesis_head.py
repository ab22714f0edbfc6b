"""audit_head: a database whose audit key predates genesis heads, and whose log is still empty,
gets an unsealed genesis head, which the service's next start seals with the audit key

Since 0005 a missing head means a wiped log. Before, the head was made by the first append, so
a database that has its audit key but no record has no head either, through no one's fault: it
gets a head here, once (this revision runs once per database), marked unsealed because a
migration does not hold the audit key; `audit.seal_upgraded_head` gives it its MAC at the next
start or `audit verify`. A database with records already has a MAC'd head, and a fresh one gets
its genesis head with its audit key: neither is touched. docs/audit.md, "Upgrading".

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_UNSEALED = "unsealed-genesis"  # audit.UNSEALED_GENESIS_MAC; a migration imports no service code


def upgrade() -> None:
    op.execute(
        "INSERT INTO audit_head (id, seq, hash, mac) "
        f"SELECT 1, 0, '{_GENESIS}', '{_UNSEALED}' "
        "WHERE EXISTS (SELECT 1 FROM service_keys WHERE name = 'audit') "
        "AND NOT EXISTS (SELECT 1 FROM audit_head) AND NOT EXISTS (SELECT 1 FROM audit_log)"
    )


def downgrade() -> None:
    # A genesis head is what an older service makes by itself at the first append: leave it.
    pass
