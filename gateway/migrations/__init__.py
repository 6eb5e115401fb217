"""Database migrations (Alembic) for the gateway store and the audit log.

One schema history covers both parts' tables, which live in one database:
``gateway.platform.store.metadata`` (clients, keys, policy bundles, regions, console users) and
``audit.metadata`` (the append-only event log and its Merkle tree), plus the triggers
that make the audit tables refuse UPDATE and DELETE.

* ``satugate db upgrade`` (or ``upgrade_url``) brings a database, empty or older, to the
  newest revision. In Kubernetes the chart runs it as a pre-install/pre-upgrade hook.
* ``upgrade_engine`` does the same on an open async engine, for an app that migrates
  itself at start.
* ``drift`` lists the differences between a database and the models; empty means the
  migrations and the code agree.

When a model changes, add a revision: ``satugate db revision -m "what changed"`` writes
it from the difference between head and the models (review it; autogenerate misses
renames and data moves). The suite fails while the two disagree
(``tests/deploy/test_migrations.py``). Until the first release the initial revision may
instead be regenerated the same way (delete it, generate, keep its two hand-written
parts: the loop over its frozen SQL and the refused downgrade).

A revision that installs SQL of its own (triggers, functions) carries it frozen, in
``gateway.migrations.frozen``: never a call to today's DDL helpers, which would replay
later code under an old revision's name. A change to ``audit.ddl_after_create`` needs a
new revision with the new statements frozen in it.

Several replicas may start at once: on PostgreSQL the upgrade holds an advisory lock, so
exactly one of them migrates and the others find the work done.

A database whose tables were made without migrations (``metadata.create_all`` by an
embedded start) is *adopted*: when it has no Alembic bookkeeping yet but its schema is
exactly what the models describe, it is stamped at the newest revision instead of
failing on "table already exists". Any difference stops the upgrade with
``UnmanagedSchema``: guessing which revision a hand-made schema is at could skip or
repeat a migration.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = [
    "UnmanagedSchema",
    "alembic_config",
    "current_revision",
    "drift",
    "head_revision",
    "target_metadata",
    "upgrade_engine",
    "upgrade_url",
]

SCRIPT_LOCATION = "gateway:migrations"
# A fixed key for pg_advisory_lock: one migration at a time per database.
PG_MIGRATION_LOCK_KEY = 0x5A7A_A0D3


class UnmanagedSchema(Exception):
    """The database has tables but no migration history, and they differ from the models."""


def target_metadata() -> list[MetaData]:
    """The models the migrations must produce (imported late: nothing at import)."""
    import audit
    from gateway.platform import store

    return [store.metadata, audit.metadata]


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic configuration without an ini file.

    The database URL travels in ``attributes``, not in the ini options: those go through
    ``configparser`` interpolation (a ``%`` in an encoded password would break it) and
    could end up in logs.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = url
    config.attributes["connection"] = connection
    return config


def upgrade_url(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (plain or async SQLAlchemy URL) to ``revision``.

    Synchronous: it runs its own event loop, so call it from the CLI or a thread, not
    from inside a running loop (use ``upgrade_engine`` there).
    """
    from gateway.platform.settings import async_url

    async def run() -> None:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            await upgrade_engine(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind an open async engine to ``revision``."""
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> None:
    locked = connection.dialect.name == "postgresql"
    if locked:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK_KEY})
        connection.commit()
    try:
        _adopt_unmanaged(connection)
        command.upgrade(alembic_config(connection=connection), revision)
        connection.commit()
    finally:
        if locked:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK_KEY})
            connection.commit()


def _adopt_unmanaged(connection: Connection) -> None:
    """Stamp a schema made by ``create_all`` at head, if it is exactly the models'."""
    tables = set(inspect(connection).get_table_names())
    known = {table for metadata in target_metadata() for table in metadata.tables}
    if "alembic_version" in tables or not tables & known:
        return
    differences = _compare(connection)
    if differences:
        raise UnmanagedSchema(
            f"the database has satugate tables but no migration history, and "
            f"{len(differences)} difference(s) from the models; migrate it by hand"
        )
    command.stamp(alembic_config(connection=connection), "head")
    connection.commit()


def head_revision() -> str | None:
    """The newest revision the code ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` for a database never migrated."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def drift(engine: AsyncEngine) -> list[Any]:
    """Differences between the database's schema and the models (empty: they agree)."""

    async with engine.connect() as connection:
        return await connection.run_sync(_compare)


def _compare(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _include_name}
    )
    # compare_metadata accepts a sequence of MetaData, as target_metadata does
    return list(compare_metadata(context, target_metadata()))  # type: ignore[arg-type]


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave Alembic's own bookkeeping table out of comparisons."""
    return not (type_ == "table" and name == "alembic_version")
