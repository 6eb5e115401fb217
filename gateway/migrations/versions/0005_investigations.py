"""Investigations: an auditor hides one resident's entries from their own report.

``gw_investigations`` holds each investigation: the resident as the audit log's blind
index, until when their report omits the entries it covers, why, and who opened and
closed it (``gateway.auditing.investigations``). The audit rows themselves are never changed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 22:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_investigations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("hidden_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gw_investigations_subject", "gw_investigations", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_gw_investigations_subject", table_name="gw_investigations")
    op.drop_table("gw_investigations")
