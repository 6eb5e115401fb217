"""The gateway's own tables: clients, proposals, wrapped keys, policy bundles, regions,
console users, investigations.

The audit tables belong to ``audit`` and live in the same database; migrations create both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from audit.schema import SQLITE_WRITE

metadata = MetaData()


def utcnow() -> datetime:
    return datetime.now(UTC)


clients = Table(
    "gw_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("agency", String(64), nullable=False, index=True),
    Column("scopes", String(400), nullable=False),
    # SHA-256 of a 256-bit random secret: high-entropy machine secrets need no slow hash.
    Column("secret_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("rotated_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    # The registered person (a console user) an ``admin`` or ``audit`` client acts for:
    # the two-person rule counts persons, not clients (``gateway.admin.proposals``).
    Column("person", String(64)),
    # private_key_jwt (``gateway.identity.client_auth``): the client's public keys (a JWKS), and
    # whether its shared secret is refused.
    Column("jwks", Text),
    Column("secrets_disabled", Boolean, default=False),
    # DPoP (``gateway.identity.dpop``): every token of this client must be bound to its key.
    Column("dpop_required", Boolean, default=False),
)

keys = Table(
    "gw_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purpose", String(32), nullable=False),
    Column("domain", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("retired_at", DateTime(timezone=True)),
    UniqueConstraint("purpose", "domain", "version", name="uq_gw_keys_version"),
)

policy_bundles = Table(
    "gw_policy_bundles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(64), nullable=False),
    Column("files", Text, nullable=False),  # JSON object {filename: yaml text}
    Column("author", String(200), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),  # proposed | active | superseded | rejected
    Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("approved_by", String(200)),
    Column("approved_at", DateTime(timezone=True)),
)

regions = Table(
    "gw_regions",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", Integer, nullable=False),
    Column("historical", Boolean, nullable=False, default=False),
    Column("list_year", Integer),
)

proposals = Table(
    "gw_proposals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # client.create | client.rotate | ...
    Column("payload", Text, nullable=False),  # JSON object, no secrets
    Column("proposed_by", String(64), nullable=False),  # a person (console username)
    Column("status", String(16), nullable=False),  # proposed | approved
    Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("approved_by", String(64)),
    Column("approved_at", DateTime(timezone=True)),
)

revoked_reports = Table(
    "gw_revoked_reports",
    metadata,
    Column("report_id", String(64), primary_key=True),  # the report token's jti
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("revoked_by", String(64), nullable=False),
)

investigations = Table(
    "gw_investigations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The resident as the audit log's keyed blind index (HMAC of the NIK), never the NIK.
    Column("subject", String(128), nullable=False, index=True),
    Column("hidden_until", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # proposed | open | closed | void
    Column("opened_by", String(64), nullable=False),  # a person (console username)
    Column("opened_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("proposal_id", Integer),  # the second auditor's approval, when one was needed
    Column("closed_by", String(64)),
    Column("closed_at", DateTime(timezone=True)),
    Column("close_note", Text),
)

alert_notes = Table(
    "gw_alert_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The alerts of one kind, agency and officer are one group: repeats are grouped.
    Column("alert_key", String(200), nullable=False, index=True),
    Column("state", String(16), nullable=False),  # acknowledged | closed
    Column("note", Text, nullable=False),
    Column("noted_by", String(64), nullable=False),  # a person (console username)
    Column("noted_at", DateTime(timezone=True), nullable=False, default=utcnow),
    # The group's newest evidence when noted: later lookups open it again.
    Column("last_time", String(32), nullable=False),
)

console_users = Table(
    "gw_console_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # admin | auditor
    Column("password_hash", Text, nullable=False),  # argon2id
    Column("totp_secret", LargeBinary),  # wrapped, optional
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the gateway store's engine. SQLite gets WAL and full sync: durable commits."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def begin_write(engine: AsyncEngine) -> Any:
    """A transaction that reads, then writes: on SQLite it starts with ``BEGIN IMMEDIATE``.

    A deferred SQLite transaction that has read cannot take the write lock once another
    writer (the audit log, every few milliseconds) has committed since: it fails at once
    with "database is locked" instead of waiting. Taking the lock at BEGIN waits instead.
    On PostgreSQL this is an ordinary transaction.
    """
    return engine.execution_options(**{SQLITE_WRITE: True}).begin()
