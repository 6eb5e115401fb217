"""Alert notes: an auditor acknowledges or closes a group of snooping flags, with a note.

``gw_alert_notes`` keeps every note (``gateway.auditing.alert_notes``); the newest per group
gives its state until lookups newer than the note raise it again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 22:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_alert_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("noted_by", sa.String(length=64), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_time", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gw_alert_notes_alert_key", "gw_alert_notes", ["alert_key"])


def downgrade() -> None:
    op.drop_index("ix_gw_alert_notes_alert_key", table_name="gw_alert_notes")
    op.drop_table("gw_alert_notes")
