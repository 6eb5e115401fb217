"""Clients register public keys: ``private_key_jwt`` instead of a shared secret.

``gw_clients.jwks`` holds a client's JSON Web Key Set (public keys only), set through a
proposal a second person approves; ``gw_clients.secrets_disabled`` refuses its shared
secret (``gateway.identity.client_auth``); ``gw_clients.dpop_required`` issues the client no token
that is not bound to its key (``gateway.identity.dpop``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 22:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jwks", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("secrets_disabled", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("dpop_required", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gw_clients", schema=None) as batch_op:
        batch_op.drop_column("dpop_required")
        batch_op.drop_column("secrets_disabled")
        batch_op.drop_column("jwks")
