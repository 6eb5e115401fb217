"""PostgreSQL: each batch in one round trip, up to two in flight.

While this process's view of the tree is current, a batch is computed on the tree its
predecessor will leave, and the database writes it only if that is the tree it holds
(:func:`audit.store.append_batch_fast`). A prediction that fails (a predecessor failed,
another process appended) writes nothing, and the batch is then placed by the database:
it computes the nodes on the tree it holds (:func:`audit.store.append_batch_at_end`),
still one round trip. So is every batch for a while after such a failure, and while the
tree is unknown: with several processes appending, guessing would fail again and cost a
round trip.

The pipelining is what lets ``python -m benchmarks audit`` reach its group-commit rate
on PostgreSQL, whose commit waits for the server's WAL flush; placed-by-database batches
are the plain path, and tests/audit/test_postgres_replicas.py shows both build the same
tree as a reference implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, ClassVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit import merkle, store
from audit.drivers.base import Writer
from audit.events import PreparedEvent
from audit.queue import BatchQueue, Pending

PIPELINE = 2
"""Batches in flight at once (each on its own connection)."""

PIPELINE_BACKLOG = 4
"""Events that must be waiting before a second batch goes out while one is in flight.
The database appends one batch at a time, holding the tree's lock through the commit's
WAL flush, so the second waits for the first there anyway: it pays only when there is a
backlog to move. A shallow queue is better served whole, once the batch in flight has
landed (fewer, larger commits; measured on the e2e benchmark's half load)."""

CONTENDED_SECONDS = 1.0
"""After a batch found a tree other than the one predicted (another process appends to
the same log), this long every batch is placed by the database instead."""


class PostgresWriter(Writer):
    """Pipelined one-round-trip appends on PostgreSQL."""

    placed_stat = "placed_by_database"
    # Reads need no snapshot (the tables only grow): no BEGIN and ROLLBACK round trips.
    read_options: ClassVar[dict[str, Any]] = {"isolation_level": "AUTOCOMMIT"}

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
        # The tree as this process expects it once its batches in flight land.
        self._frontier: store.Frontier | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._last_sent: asyncio.Task[None] | None = None
        self._predict_after = 0.0  # loop time; until then the database places each batch
        self.idle_connections: list[AsyncConnection] = []

    async def aclose(self) -> None:
        while self.idle_connections:
            with contextlib.suppress(Exception):  # a connection the server dropped
                await self.idle_connections.pop().close()

    def limit(self, waiting: int) -> int:
        if self._frontier is not None and not self._in_flight and waiting >= 2 * PIPELINE_BACKLOG:
            # Double buffering of a backlog: half now, the other half right behind it, so
            # that the callers of one batch carry on while the database writes the next.
            return (waiting + 1) // 2
        return waiting

    async def run(self, queue: BatchQueue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch, stopping = await queue.next_batch(lambda w: min(queue.max_batch, self.limit(w)))
            if batch:
                if self._frontier is not None and loop.time() >= self._predict_after:
                    self._send_predicted(batch)
                else:
                    self._send(self._commit(batch))
                if len(self._in_flight) >= PIPELINE or (
                    self._in_flight and queue.waiting() < PIPELINE_BACKLOG
                ):
                    await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            if stopping:
                while self._in_flight:
                    await asyncio.wait(set(self._in_flight))
                return

    def _send_predicted(self, batch: list[Pending]) -> None:
        base = self._frontier
        assert base is not None
        hashes = [merkle.leaf_hash(p.event.leaf) for p in batch]
        created, new = merkle.new_nodes(base.size, base.hashes, hashes)
        predicted = store.Frontier(base.size + len(batch), tuple(new))
        self._frontier = predicted  # the next batch builds on this one
        ahead = self._last_sent if self._last_sent in self._in_flight else None
        self._last_sent = self._send(self._commit_predicted(batch, base, created, predicted, ahead))

    def _send(self, commit: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(commit)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def _commit_predicted(
        self,
        batch: list[Pending],
        base: store.Frontier,
        created: list[tuple[int, int, bytes]],
        predicted: store.Frontier,
        ahead: asyncio.Task[None] | None,
    ) -> None:
        """The whole batch in one round trip, on the tree ``base``; placed by the
        database if it holds another tree.

        ``ahead`` is the batch sent just before, still in flight. If this one reaches
        the database first, it finds the tree short of ``base``: it waits for that
        batch and tries once more, rather than giving up the prediction.
        """
        started = time.perf_counter()
        events = [p.event for p in batch]
        stored = base.size
        try:
            async with asyncio.timeout(self._timeout), self._connection() as conn:
                stored = await store.append_batch_fast(conn, events, base, created)
                if 0 <= stored < base.size and ahead is not None:
                    await asyncio.wait([ahead])
                    stored = await store.append_batch_fast(conn, events, base, created)
                written = stored == base.size
        except store.ConnectionLost:
            written = False  # the kept connection died: the database places the batch
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                self._fail(batch, exc)
                return
            written = False  # a pooled connection died: the database places it
        except Exception as exc:
            self._fail(batch, exc)
            return
        if not written:
            # The prediction was wrong (another writer appended, or a batch before this
            # one failed), and so may be that of the batch behind it: it finds out the
            # same way. The database places the batch on the tree it holds.
            self._stats["mispredicted"] += 1
            self._frontier = None
            if stored > base.size or stored == -1:  # another process appended
                self._predict_after = asyncio.get_running_loop().time() + CONTENDED_SECONDS
            await self._commit(batch)
            return
        self._stats["one_round_trip"] += 1
        self._answer(batch, predicted, started, advance=False)

    async def _write(self, events: Sequence[PreparedEvent]) -> store.Frontier:
        # The database computes the batch's nodes on the tree it holds under the lock:
        # one round trip, whatever other writers appended since this one looked.
        async with self._connection() as conn:
            return await store.append_batch_at_end(conn, events)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """An AUTOCOMMIT connection for one-round-trip appends, kept between batches.

        Checking a connection out of the pool, resetting it and setting its isolation
        level cost more than the append itself; the writer keeps one per batch in flight
        instead. A connection that saw any error is invalidated (its state is unknown,
        and the server may have dropped it), never reused.
        """
        conn = self.idle_connections.pop() if self.idle_connections else None
        if conn is None:
            conn = await self._engine.connect()
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        self.idle_connections.append(conn)

    def _succeed(self, batch: list[Pending], new: store.Frontier, started: float) -> None:
        self._answer(batch, new, started, advance=True)

    def _answer(
        self, batch: list[Pending], new: store.Frontier, started: float, *, advance: bool
    ) -> None:
        """``advance``: the writer's view of the tree becomes ``new`` (a predicted batch
        advanced it when it was sent), unless it is already further on (batches placed
        by the database may complete out of order)."""
        if advance and (self._frontier is None or new.size >= self._frontier.size):
            self._frontier = new
        super()._succeed(batch, new, started)

    def _fail(self, batch: list[Pending], exc: BaseException) -> None:
        self._frontier = None
        super()._fail(batch, exc)
