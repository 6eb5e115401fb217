"""Initial schema: gateway store and audit log, with the audit tables append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 12:36:14.810452
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.migrations.frozen import r0001

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("agency", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=400), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("gw_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_clients_agency"), ["agency"], unique=False)

    op.create_table(
        "gw_console_users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "gw_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purpose", "domain", "version", name="uq_gw_keys_version"),
    )
    op.create_table(
        "gw_policy_bundles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gw_regions",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("list_year", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "audit_event_subjects",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "leaf_index", name="pk_audit_event_subjects"),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "leaf_index",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("agency", sa.String(length=128), nullable=True),
        sa.Column("officer", sa.String(length=256), nullable=True),
        sa.Column("client_id", sa.String(length=256), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("hidden_until", sa.String(length=32), nullable=True),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_events_agency", ["agency"], unique=False)
        batch_op.create_index("ix_audit_events_decision", ["decision"], unique=False)
        batch_op.create_index("ix_audit_events_officer", ["officer"], unique=False)
        batch_op.create_index("ix_audit_events_purpose", ["purpose"], unique=False)
        batch_op.create_index("ix_audit_events_time", ["time"], unique=False)

    op.create_table(
        "audit_flagged_subjects",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column("flagged_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "audit_officer_family",
        sa.Column("agency", sa.String(length=128), nullable=False),
        sa.Column("officer", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("agency", "officer", "subject", name="pk_audit_officer_family"),
    )
    op.create_table(
        "audit_tree_nodes",
        sa.Column(
            "node",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("node"),
    )
    # The database itself refuses UPDATE and DELETE (and TRUNCATE) on the audit tables.
    frozen = r0001.POSTGRESQL if op.get_bind().dialect.name == "postgresql" else r0001.SQLITE
    for statement in frozen:
        op.execute(statement)


def downgrade() -> None:
    """Refused: this revision holds the audit log, and no migration may destroy it.

    Dropping the tables would erase evidence the law requires the city to keep. A
    database that really must go is dropped by its administrator, deliberately, outside
    the application.
    """
    raise RuntimeError("the initial schema holds the audit log and is never downgraded")
