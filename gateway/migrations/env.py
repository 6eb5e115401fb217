"""Alembic environment: async engines, one history for the gateway and audit tables.

``gateway.migrations.upgrade_*`` hand over an open connection (with the PostgreSQL
advisory lock held); a URL alone (``--sql`` output, ``satugate db revision``) gets its
own short-lived engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.migrations import _include_name, target_metadata
from gateway.platform.settings import async_url

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        compare_type=True,
        include_name=_include_name,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations(connection: Connection) -> None:
    """Migrate on ``connection`` (the caller holds any lock and commits)."""
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Emit the SQL instead of running it (``satugate db upgrade --sql``)."""
    url = config.attributes.get("url")
    if not url:
        raise RuntimeError("no database URL given")
    context.configure(
        url=async_url(url),
        target_metadata=target_metadata(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = config.attributes.get("url")
    if not url:
        raise RuntimeError("no database URL given")
    asyncio.run(_run_with_url(url))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
