"""The audit log's writers, one per kind of database, picked by the engine's dialect."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from audit.drivers.base import WRITER_STATS, Writer
from audit.drivers.postgres import PostgresWriter
from audit.drivers.sqlite import SqliteFileWriter, SqliteWriter
from audit.sqlite_writer import database_file

__all__ = [
    "WRITER_STATS",
    "PostgresWriter",
    "SqliteFileWriter",
    "SqliteWriter",
    "Writer",
    "writer_for",
]


def writer_for(
    engine: AsyncEngine,
    *,
    commit_timeout: float,
    on_commit: Callable[[int, float], None] | None = None,
    on_failure: Callable[[], None] | None = None,
) -> Writer:
    """The writer for ``engine``'s database."""
    dialect = engine.dialect.name
    path = database_file(engine.url) if dialect == "sqlite" else None
    if dialect == "postgresql":
        return PostgresWriter(
            engine, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure
        )
    if path is not None:
        return SqliteFileWriter(
            engine, path, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure
        )
    if dialect == "sqlite":
        return SqliteWriter(
            engine, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure
        )
    return Writer(engine, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure)
