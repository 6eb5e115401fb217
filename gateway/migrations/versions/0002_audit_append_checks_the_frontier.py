"""The PostgreSQL append function checks the whole frontier of the tree it extends.

``audit_append`` used to check the tree's size and its last leaf before writing a batch
computed on a predicted tree; it now compares every frontier hash, and takes them as
two more arguments. The statements that install the function (and the append-only
triggers) are idempotent; this revision runs them as they were written then
(``gateway.migrations.frozen``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 15:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gateway.migrations.frozen import r0002

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    frozen = r0002.POSTGRESQL if op.get_bind().dialect.name == "postgresql" else r0002.SQLITE
    for statement in frozen:
        op.execute(statement)


def downgrade() -> None:
    """Nothing is undone: the stricter function stays (the weaker check is not restored)."""
