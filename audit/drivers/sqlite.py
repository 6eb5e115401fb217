"""SQLite: one batch at a time under the database's write lock; a file's batches are
durable in the log's commit journal first (:mod:`audit.sqlite_writer`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncEngine

from audit import store
from audit.drivers.base import Writer
from audit.events import PreparedEvent
from audit.schema import SQLITE_WRITE, configure_sqlite
from audit.sqlite_writer import SqliteAppender


class SqliteWriter(Writer):
    """A SQLite database without a file of its own (in memory): a locked transaction
    (``BEGIN IMMEDIATE``) per batch."""

    write_options: ClassVar[dict[str, Any]] = {SQLITE_WRITE: True}

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        commit_timeout: float,
        on_commit: Callable[[int, float], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            engine, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure
        )
        configure_sqlite(engine)


class SqliteFileWriter(SqliteWriter):
    """A SQLite file: each batch through a :class:`~audit.sqlite_writer.SqliteAppender`,
    durable in the commit journal when its callers hear of it, rows shortly after.

    While the log is stopped (no appender), reads and checkpoints go through the engine,
    as on any SQLite database.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        path: Path,
        *,
        commit_timeout: float,
        on_commit: Callable[[int, float], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            engine, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure
        )
        self._path = path
        self.appender: SqliteAppender | None = None

    async def open(self) -> None:
        self.appender = SqliteAppender(self._path)

    async def aclose(self) -> None:
        if self.appender is not None:
            appender, self.appender = self.appender, None
            await appender.aclose()

    async def before_read(self) -> None:
        # What is journaled becomes rows first: the log's reads see every event it
        # acknowledged (and what a process that died left in the journal).
        if self.appender is not None:
            await self.appender.flush()

    async def maintain(self) -> None:
        if self.appender is not None:
            await self.appender.checkpoint_wal()

    async def insert_checkpoint(self, signed: store.StoredCheckpoint) -> None:
        if self.appender is None:
            await super().insert_checkpoint(signed)
            return
        # Through the writer's own thread and connection: no second writer in this
        # process waiting on SQLite's lock while appends queue behind it.
        await self.appender.insert_checkpoint(signed)

    async def _write(self, events: Sequence[PreparedEvent]) -> store.Frontier:
        if self.appender is None:
            return await super()._write(events)
        return await self.appender.append(events, self.confirmed)
