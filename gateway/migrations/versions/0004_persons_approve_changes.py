"""Persons, not clients, approve changes: clients name their person; proposals; revoked
report tokens.

``gw_clients.person`` binds an ``admin`` or ``audit`` client to the registered person (a
console user) it acts for. ``gw_proposals`` holds the access-widening changes to clients
and keys until a different person approves them (``gateway.admin.proposals``).
``gw_revoked_reports`` lists the residents' report tokens an auditor has revoked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 21:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person", sa.String(length=64), nullable=True))
    op.create_table(
        "gw_proposals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gw_revoked_reports",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("report_id"),
    )


def downgrade() -> None:
    op.drop_table("gw_revoked_reports")
    op.drop_table("gw_proposals")
    with op.batch_alter_table("gw_clients", schema=None) as batch_op:
        batch_op.drop_column("person")
