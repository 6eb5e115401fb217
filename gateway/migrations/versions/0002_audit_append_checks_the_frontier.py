"""The PostgreSQL append function checks the whole frontier of the tree it extends.

``audit_append`` used to check the tree's size and its last leaf before writing a batch
computed on a predicted tree; it now compares every frontier hash, and takes them as
two more arguments. The statements that install the function (and the append-only
triggers) are idempotent, so this revision simply runs them again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 15:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from audit.schema import ddl_after_create

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in ddl_after_create(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Nothing is undone: the stricter function stays (the weaker check is not restored)."""
