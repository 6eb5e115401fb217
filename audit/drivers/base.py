"""What every audit writer shares: committing a batch, answering its callers, failing closed.

A writer takes batches from the :class:`~audit.queue.BatchQueue` and makes each durable
in one transaction. Its driver decides how (``_write``); this base answers a committed
batch with its leaf indexes, or fails every caller of a batch that could not commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit import store
from audit.errors import AuditUnavailable
from audit.events import PreparedEvent
from audit.queue import BatchQueue, Pending

logger = logging.getLogger("satugate.audit")

WRITER_STATS = (
    "batches",
    "events",
    "one_round_trip",
    "placed_by_database",
    "locked_transaction",
    "mispredicted",
    "failed_batches",
)
"""The counters of :attr:`Writer.stats` (and of :attr:`audit.AuditLog.stats`)."""


class Writer:
    """A driver's writer: one batch at a time, each in one locked transaction.

    ``on_commit(batch_size, seconds)`` and ``on_failure()`` are called after each group
    commit (for metrics); they must not raise.
    """

    placed_stat = "locked_transaction"
    """The counter a batch written by :meth:`_write` adds to."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        commit_timeout: float,
        on_commit: Callable[[int, float], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._timeout = commit_timeout
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._stats = dict.fromkeys(WRITER_STATS, 0)
        # The latest tree this process saw committed: true for good, the log only grows.
        self.confirmed: store.Frontier | None = None

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    # --- what a driver may refine --------------------------------------------------------

    async def open(self) -> None:
        """Acquire what the writer holds while the log runs."""

    async def aclose(self) -> None:
        """Release what :meth:`open` acquired."""

    async def before_read(self) -> None:
        """Make every acknowledged event visible to the log's own reads."""

    async def maintain(self) -> None:
        """Periodic upkeep, called by the checkpointer."""

    read_options: ClassVar[dict[str, Any]] = {}
    """Execution options of the log's read connections."""

    write_options: ClassVar[dict[str, Any]] = {"isolation_level": "READ COMMITTED"}
    """Execution options of the log's write transactions: each statement sees rows that
    other processes committed while this one waited for the append lock."""

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (a locked append, checkpoints, flags, families)."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**self.write_options)
            async with conn.begin():
                yield conn

    async def insert_checkpoint(self, signed: store.StoredCheckpoint) -> None:
        async with self.transaction() as conn:
            await store.insert_checkpoint(conn, signed)

    async def _write(self, events: Sequence[PreparedEvent]) -> store.Frontier:
        """Write ``events`` at the end of the tree in one transaction; the new frontier."""
        async with self.transaction() as conn:
            await store.lock_for_append(conn)
            return await store.append_batch(conn, events, self.confirmed)

    # --- the loop ------------------------------------------------------------------------

    def limit(self, waiting: int) -> int:
        """The largest batch to take when ``waiting`` events wait (the queue's own cap)."""
        return waiting

    async def run(self, queue: BatchQueue) -> None:
        """Commit batches until the queue's stop marker."""
        while True:
            batch, stopping = await queue.next_batch(lambda w: min(queue.max_batch, self.limit(w)))
            if batch:
                await self._commit(batch)
            if stopping:
                return

    async def _commit(self, batch: list[Pending]) -> None:
        started = time.perf_counter()
        events = [p.event for p in batch]
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    new = await self._write(events)
                except (DBAPIError, store.ConnectionLost) as exc:
                    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
                        raise
                    # A connection died (database restart): retry once on a new one. A
                    # duplicate write is impossible: event ids are unique.
                    new = await self._write(events)
        except Exception as exc:
            self._fail(batch, exc)
            return
        self._stats[self.placed_stat] += 1
        self._succeed(batch, new, started)

    def _succeed(self, batch: list[Pending], new: store.Frontier, started: float) -> None:
        """Answer a committed batch: each caller learns its leaf index."""
        if self.confirmed is None or new.size > self.confirmed.size:
            self.confirmed = new
        self._stats["batches"] += 1
        self._stats["events"] += len(batch)
        if self._on_commit is not None:
            self._on_commit(len(batch), time.perf_counter() - started)
        first = new.size - len(batch)
        for i, p in enumerate(batch):
            if not p.future.done():
                p.future.set_result(first + i)

    def _fail(self, batch: list[Pending], exc: BaseException) -> None:
        """Fail closed: every caller of this batch learns that its event is not durable."""
        self._stats["failed_batches"] += 1
        if self._on_failure is not None:
            self._on_failure()
        logger.warning("audit: commit of %d events failed (%s)", len(batch), type(exc).__name__)
        for p in batch:
            if not p.future.done():
                p.future.set_exception(AuditUnavailable("the audit log could not commit"))
