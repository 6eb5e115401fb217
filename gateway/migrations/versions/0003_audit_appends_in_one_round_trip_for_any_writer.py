"""PostgreSQL appends take one round trip for any writer, and cost less.

A new function, ``audit_append_at_end``, appends a batch at whatever size the stored tree
has and computes the batch's tree nodes itself, from the stored frontier, under the
append lock. A writer that does not know the stored tree (another replica appended since
it last looked) used to take a locked transaction of several round trips, each holding
the lock; with two or more replicas appending, most batches went that way.

``audit_append`` used to read the size in one statement and then probe each frontier
node in a statement of its own; every statement inside the function has a fixed cost,
larger than the probe itself. One statement now reads the size and whether any frontier
hash differs from the one given, with the same comparisons, so a batch is written or
refused exactly as before. Both functions ask PostgreSQL to plan their statements once
per connection: a plan made for every call costs more than the statements themselves.
``audit_append``'s arguments and return values are unchanged. The statements that
install the functions (and the append-only triggers) are idempotent; this revision
runs them as they were written then (``gateway.migrations.frozen``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 20:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gateway.migrations.frozen import r0003

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    frozen = r0003.POSTGRESQL if op.get_bind().dialect.name == "postgresql" else r0003.SQLITE
    for statement in frozen:
        op.execute(statement)


def downgrade() -> None:
    """Nothing is undone: ``audit_append`` behaves as before, only at a lower cost, and
    ``audit_append_at_end`` stays, unused by older code."""
