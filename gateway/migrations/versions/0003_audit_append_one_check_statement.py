"""The PostgreSQL append function reads the tree's size and frontier in one statement.

``audit_append`` used to read the size in one statement and then probe each frontier
node in a statement of its own; every statement inside the function has a fixed cost,
larger than the probe itself. One statement now reads the size and whether any frontier
hash differs from the one given, with the same comparisons, so a batch is written or
refused exactly as before. The function also asks PostgreSQL to plan its statements once
per connection: a plan made for every call costs more than the statements themselves.
Its arguments and return values are unchanged. The statements that install the function
(and the append-only triggers) are idempotent, so this revision simply runs them again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 20:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from audit.schema import ddl_after_create

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in ddl_after_create(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Nothing is undone: the function's behaviour did not change, only its cost."""
