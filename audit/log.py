"""The audit log service: group-committed appends, checkpoints, proofs and queries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit import alerts as alert_rules
from audit import merkle, queries, store
from audit.checkpoint import CheckpointSigner, parse_note
from audit.errors import AuditUnavailable, ProofError
from audit.events import PreparedEvent, agency_blind_key, blind_index, format_time, prepare
from audit.models import Alert, ConsistencyProof, EventPage, EventQuery, InclusionProof, Receipt
from audit.schema import SQLITE_WRITE, configure_sqlite
from audit.sqlite_writer import SqliteAppender, database_file

logger = logging.getLogger("satugate.audit")


_PIPELINE = 2
"""PostgreSQL batches in flight at once (each on its own connection)."""

_PIPELINE_BACKLOG = 4
"""Events that must be waiting before a second PostgreSQL batch goes out while one is in
flight. The database appends one batch at a time, holding the tree's lock through the
commit's WAL flush, so the second waits for the first there anyway: it pays only when
there is a backlog to move. A shallow queue is better served whole, once the batch in
flight has landed (fewer, larger commits; measured on the e2e benchmark's half load)."""

WRITER_STATS = (
    "batches",
    "events",
    "one_round_trip",
    "placed_by_database",
    "locked_transaction",
    "mispredicted",
    "failed_batches",
)
"""The counters of :attr:`AuditLog.stats`."""

_CONTENDED_SECONDS = 1.0
"""PostgreSQL: after a batch found a tree other than the one predicted (another process
appends to the same log), this long every batch is placed by the database instead."""


def _expire(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(AuditUnavailable("the audit log did not commit in time"))


@dataclass(slots=True)
class _Pending:
    event: PreparedEvent
    future: asyncio.Future[int]


class AuditLog:
    """The tamper-evident audit log of one gateway store.

    ``append`` queues an event and returns once the batch holding it is committed
    (group commit: one transaction per batch of up to ``max_batch`` events). A batch holds
    the events queued while the previous one was being committed, so an idle log commits
    an event at once and a busy one shares each transaction among many;
    ``max_wait_ms`` > 0 also waits that long for more events before a small batch. A
    background task signs a checkpoint at least every ``checkpoint_interval`` seconds
    while the tree grows. Any number of processes may run an ``AuditLog`` on the same
    database: the database assigns positions, so they all extend one tree.

    ``commit_timeout`` bounds how long ``append`` waits before it gives up with
    :class:`AuditUnavailable`; ``read_timeout`` does the same for proofs and queries.
    ``on_commit(batch_size, seconds)`` and ``on_failure()`` are called after each group
    commit (for metrics); they must not raise.

    On SQLite the engine is configured by :func:`audit.configure_sqlite` (WAL,
    ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for appends); the owner of the engine should
    call it before the first connection. When the database is a plain file, appends go
    through a :class:`~audit.sqlite_writer.SqliteAppender`: each batch is durable in the
    log's commit journal when its caller hears of it, and rows shortly after.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        signer: CheckpointSigner,
        blind_key: bytes,
        max_batch: int = 512,
        max_wait_ms: float = 0.0,
        checkpoint_interval: float = 1.0,
        commit_timeout: float = 5.0,
        read_timeout: float = 15.0,
        on_commit: Callable[[int, float], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        if len(blind_key) < 16:
            raise ValueError("the blind index key must have at least 128 bits")
        if max_batch < 1:
            raise ValueError("max_batch must be positive")
        self._engine = engine
        self._signer = signer
        self._blind_key = blind_key
        self._agency_keys: dict[str, bytes] = {}
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._interval = checkpoint_interval
        self._timeout = commit_timeout
        self._read_timeout = read_timeout
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        # The tree as this process expects it once its batches in flight land (a
        # prediction), and the latest tree it saw committed (true for good: the log only
        # grows). SQLite's locked transaction trusts only the latter.
        self._frontier: store.Frontier | None = None
        self._confirmed: store.Frontier | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._idle_fast: list[AsyncConnection] = []
        self._last_sent: asyncio.Task[None] | None = None
        self._known_size = 0
        self._predict_after = 0.0  # loop time; until then the database places each batch
        self._origin_ok = False
        self._stats = dict.fromkeys(WRITER_STATS, 0)
        # PostgreSQL: one round trip per batch, on this process's view of the tree while
        # it is current (see store.append_batch_fast), else placed by the database.
        self._fast = engine.dialect.name == "postgresql"
        self._sqlite_file = database_file(engine.url)
        self._appender: SqliteAppender | None = None
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine)
            self._write_options: dict[str, Any] = {SQLITE_WRITE: True}
        else:
            # Each statement must see rows that other processes committed while this
            # one waited for the append lock: READ COMMITTED, not a transaction snapshot.
            self._write_options = {"isolation_level": "READ COMMITTED"}

    def __repr__(self) -> str:
        return f"AuditLog(origin={self._signer.origin!r}, running={self._running})"

    @property
    def stats(self) -> dict[str, int]:
        """Counters of the writer: committed batches and events, how each batch was
        written (PostgreSQL: in one round trip on the predicted tree, or placed by the
        database; SQLite: in a locked transaction), batches sent on a predicted tree the
        database did not hold (then placed by the database), failed batches."""
        return dict(self._stats)

    @property
    def signer(self) -> CheckpointSigner:
        return self._signer

    def blind_index(self, nik: str, agency: str | None = None) -> str:
        """The keyed blind index under which ``agency``'s events about ``nik`` are stored
        (``agency_blind_key``); without an agency, the index of the logs written before
        indexes were kept per agency."""
        if agency is None:
            return blind_index(self._blind_key, nik)
        key = self._agency_keys.get(agency)
        if key is None:
            key = self._agency_keys[agency] = agency_blind_key(self._blind_key, agency)
        return blind_index(key, nik)

    async def _blind_indexes(self, conn: AsyncConnection, nik: str) -> list[str]:
        """Every index ``nik`` may be stored under: one per agency in the log, and the
        index of events written before indexes were kept per agency."""
        agencies = await queries.agencies(conn)
        return [self.blind_index(nik), *(self.blind_index(nik, a) for a in agencies)]

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the group-commit writer and the checkpointer."""
        if self._running:
            return
        self._queue = asyncio.Queue()
        self._running = True
        if self._sqlite_file is not None:
            self._appender = SqliteAppender(self._sqlite_file)
        self._tasks = [
            asyncio.create_task(self._run_writer(), name="audit-writer"),
            asyncio.create_task(self._run_checkpointer(), name="audit-checkpointer"),
        ]

    async def stop(self) -> None:
        """Commit what is queued, stop the tasks, and sign a last checkpoint if possible."""
        if not self._running:
            return
        self._running = False
        self._queue.put_nowait(None)
        writer, checkpointer = self._tasks
        checkpointer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checkpointer
        await writer
        self._tasks = []
        while self._idle_fast:
            with contextlib.suppress(Exception):  # a connection the server dropped
                await self._idle_fast.pop().close()
        if self._appender is not None:
            await self._appender.aclose()
            self._appender = None
        try:
            await self._sign_if_grown()
        except Exception:  # the log stays consistent; the next start signs instead
            logger.warning("audit: final checkpoint could not be signed", exc_info=True)

    async def __aenter__(self) -> AuditLog:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- appending ---------------------------------------------------------------------

    async def append(
        self, event: Mapping[str, object], *, subject_niks: Sequence[str] = ()
    ) -> Receipt:
        """Append one event; durable when this returns.

        The log fills in ``event_id`` (a time-ordered UUID), ``time`` (RFC 3339 UTC, ms)
        when absent, and ``subjects`` (blind indexes of ``subject_niks``; the clear NIKs
        are not stored). Raises :class:`AuditUnavailable` when the event could not be
        committed within the commit timeout, and ``ValueError`` for a malformed event.
        """
        if not self._running:
            raise AuditUnavailable("the audit log is not running")
        agency = event.get("agency")
        agency = agency if isinstance(agency, str) else None
        prepared = prepare(event, [self.blind_index(n, agency) for n in subject_niks])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.put_nowait(_Pending(prepared, future))
        # On timeout the future fails, and the writer skips it if it has not taken it yet.
        timer = loop.call_later(self._timeout, _expire, future)
        try:
            index = await future
        finally:
            timer.cancel()
        return Receipt(prepared.event_id, index)

    def _drain(self, batch: list[_Pending], limit: int) -> bool:
        """Move queued events into ``batch``; True when the stop marker was seen."""
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    async def _next_batch(self) -> tuple[list[_Pending], bool]:
        """The next batch of live events, and whether the stop marker was reached."""
        first = await self._queue.get()
        batch: list[_Pending] = []
        stopping = first is None
        if first is not None:
            batch.append(first)
            if self._queue.qsize() + 1 < self._max_batch:
                # Let the tasks that are ready to run queue their events first (and, if
                # configured, wait a moment more) so that they share this transaction.
                await asyncio.sleep(self._max_wait)
            limit = self._max_batch
            waiting = self._queue.qsize() + 1
            if self._pipelining() and not self._in_flight and waiting >= 2 * _PIPELINE_BACKLOG:
                # Double buffering of a backlog: half now, the other half right behind
                # it, so that the callers of one batch carry on while the database
                # writes the next.
                limit = min(limit, (waiting + 1) // 2)
            stopping = self._drain(batch, limit)
        # A caller that gave up (timeout, cancellation) has its future done: its event is
        # not written, so a 503 answer never hides an event logged afterwards.
        return [p for p in batch if not p.future.done()], stopping

    def _pipelining(self) -> bool:
        return self._fast and self._frontier is not None

    async def _run_writer(self) -> None:
        """Group commit, each batch in one transaction.

        PostgreSQL: a batch goes out in one round trip as soon as it is formed, with at
        most ``_PIPELINE`` of them in flight, a second one only while events are backed
        up (``_PIPELINE_BACKLOG``). While this process's view of the tree is
        current, each is computed on the tree its predecessor will leave; the database
        writes it only if that is the tree it holds (see :func:`store.append_batch_fast`).
        A prediction that fails (a predecessor failed, another process appended) writes
        nothing, and the batch is then placed by the database: it computes the nodes on
        the tree it holds (:func:`store.append_batch_at_end`), still one round trip. So is
        every batch for a while after such a failure, and while the tree is unknown: with
        several processes appending, guessing would fail again and cost a round trip.
        SQLite: one batch at a time, in a locked transaction.
        """
        loop = asyncio.get_running_loop()
        while True:
            batch, stopping = await self._next_batch()
            if batch:
                if not self._fast:
                    await self._commit_locked(batch)
                else:
                    if self._pipelining() and loop.time() >= self._predict_after:
                        self._send_fast(batch)
                    else:
                        self._send(self._commit_locked(batch))
                    if len(self._in_flight) >= _PIPELINE or (
                        self._in_flight and self._queue.qsize() < _PIPELINE_BACKLOG
                    ):
                        await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            if stopping:
                await self._settle()
                return

    async def _settle(self) -> None:
        """Wait until no batch is in flight."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _send_fast(self, batch: list[_Pending]) -> None:
        base = self._frontier
        assert base is not None
        hashes = [merkle.leaf_hash(p.event.leaf) for p in batch]
        created, new = merkle.new_nodes(base.size, base.hashes, hashes)
        predicted = store.Frontier(base.size + len(batch), tuple(new))
        self._frontier = predicted  # the next batch builds on this one
        ahead = self._last_sent if self._last_sent in self._in_flight else None
        self._last_sent = self._send(self._commit_fast(batch, base, created, predicted, ahead))

    def _send(self, commit: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(commit)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def _commit_fast(
        self,
        batch: list[_Pending],
        base: store.Frontier,
        created: list[tuple[int, int, bytes]],
        predicted: store.Frontier,
        ahead: asyncio.Task[None] | None,
    ) -> None:
        """PostgreSQL: the whole batch in one round trip, on the tree ``base``; placed by
        the database if it holds another tree.

        ``ahead`` is the batch sent just before, still in flight. If this one reaches
        the database first, it finds the tree short of ``base``: it waits for that
        batch and tries once more, rather than giving up the prediction.
        """
        started = time.perf_counter()
        events = [p.event for p in batch]
        stored = base.size
        try:
            async with asyncio.timeout(self._timeout), self._fast_connection() as conn:
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
                self._predict_after = asyncio.get_running_loop().time() + _CONTENDED_SECONDS
            await self._commit_locked(batch)
            return
        self._stats["one_round_trip"] += 1
        self._succeed(batch, predicted, started, advance=False)

    @contextlib.asynccontextmanager
    async def _fast_connection(self) -> AsyncIterator[AsyncConnection]:
        """An AUTOCOMMIT connection for one-round-trip appends, kept between batches.

        Checking a connection out of the pool, resetting it and setting its isolation
        level cost more than the append itself; the writer keeps one per batch in flight
        instead. A connection that saw any error is invalidated (its state is unknown,
        and the server may have dropped it), never reused.
        """
        conn = self._idle_fast.pop() if self._idle_fast else None
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
        self._idle_fast.append(conn)

    async def _commit_locked(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    new = await self._write_locked(batch)
                except (DBAPIError, store.ConnectionLost) as exc:
                    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
                        raise
                    # A connection died (database restart): retry once on a new one. A
                    # duplicate write is impossible: event ids are unique.
                    new = await self._write_locked(batch)
        except Exception as exc:
            self._fail(batch, exc)
            return
        self._stats["placed_by_database" if self._fast else "locked_transaction"] += 1
        self._succeed(batch, new, started)

    async def _write_locked(self, batch: list[_Pending]) -> store.Frontier:
        events = [p.event for p in batch]
        if self._appender is not None:
            return await self._appender.append(events, self._confirmed)
        if self._fast:
            # PostgreSQL computes the batch's nodes on the tree it holds under the lock:
            # one round trip, whatever other writers appended since this one looked.
            async with self._fast_connection() as conn:
                return await store.append_batch_at_end(conn, events)
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**self._write_options)
            async with conn.begin():
                await store.lock_for_append(conn)
                return await store.append_batch(conn, events, self._confirmed)

    def _succeed(
        self, batch: list[_Pending], new: store.Frontier, started: float, *, advance: bool = True
    ) -> None:
        """Answer a committed batch. ``advance``: the writer's view of the tree becomes
        ``new`` (a pipelined batch advanced it when it was sent), unless it is already
        further on (batches placed by the database may complete out of order)."""
        if advance and (self._frontier is None or new.size >= self._frontier.size):
            self._frontier = new
        if self._confirmed is None or new.size > self._confirmed.size:
            self._confirmed = new
        self._known_size = max(self._known_size, new.size)
        self._stats["batches"] += 1
        self._stats["events"] += len(batch)
        if self._on_commit is not None:
            self._on_commit(len(batch), time.perf_counter() - started)
        first = new.size - len(batch)
        for i, p in enumerate(batch):
            if not p.future.done():
                p.future.set_result(first + i)

    def _fail(self, batch: list[_Pending], exc: BaseException) -> None:
        """Fail closed: every caller of this batch learns that its event is not durable."""
        self._frontier = None
        self._stats["failed_batches"] += 1
        if self._on_failure is not None:
            self._on_failure()
        logger.warning("audit: commit of %d events failed (%s)", len(batch), type(exc).__name__)
        for p in batch:
            if not p.future.done():
                p.future.set_exception(AuditUnavailable("the audit log could not commit"))

    # --- checkpoints -------------------------------------------------------------------

    async def _run_checkpointer(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self._interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = loop.time() + self._interval
            try:
                await self._sign_if_grown()
            except Exception:  # retried next interval; appends do not depend on it
                logger.warning("audit: checkpoint signing failed", exc_info=True)
            if self._appender is not None:
                try:
                    await self._appender.checkpoint_wal()
                except Exception as exc:  # retried next interval; the writer's limit holds
                    logger.warning("audit: WAL checkpoint failed (%s)", type(exc).__name__)

    async def _sign_if_grown(self) -> store.StoredCheckpoint:
        """Sign a checkpoint for the current size unless the latest one already covers it.

        Security decision: before signing, the new root is proven consistent with the
        latest stored checkpoint (a consistency proof from the node table, verified here).
        A node table altered behind the log's back therefore stops the signer instead of
        producing a checkpoint that contradicts an earlier one.
        """
        async with self._reader() as conn:
            await self._check_origin(conn)
            latest = await store.latest_checkpoint(conn)
            size = await store.tree_size(conn)
            if latest is not None and latest.tree_size >= size:
                return latest
            root = await store.root_hash(conn, size)
            if latest is not None and latest.tree_size > 0:
                ranges = merkle.consistency_ranges(latest.tree_size, size)
                proof = await store.range_hashes(conn, ranges)
                merkle.verify_consistency(latest.tree_size, size, proof, latest.root_hash, root)
            await conn.rollback()
        note = self._signer.sign(size, root)
        signed = store.StoredCheckpoint(size, root, note, format_time(datetime.now(UTC)))
        if self._appender is not None:
            # Through the writer's own thread and connection: no second writer in this
            # process waiting on SQLite's lock while appends queue behind it.
            await self._appender.insert_checkpoint(signed)
        else:
            async with self._engine.connect() as conn:
                conn = await conn.execution_options(**self._write_options)
                async with conn.begin():
                    await store.insert_checkpoint(conn, signed)
        self._known_size = max(self._known_size, size)
        return signed

    async def _check_origin(self, conn: AsyncConnection) -> None:
        """Security decision: a log has one origin, set by its first checkpoint. A signer
        configured for another origin (a tool with the wrong issuer setting) is refused
        rather than allowed to mix notes that verifiers would reject."""
        if self._origin_ok:
            return
        first = await store.first_checkpoint(conn)
        if first is not None:
            origin = parse_note(first.note)[0].origin
            if origin != self._signer.origin:
                raise ProofError(
                    f"this log's checkpoints are for origin {origin!r}, not {self._signer.origin!r}"
                )
        self._origin_ok = True

    async def checkpoint(self) -> str:
        """The latest signed checkpoint note, signing a new one if the tree has grown."""
        try:
            return (await self._sign_if_grown()).note
        except ProofError:
            raise
        except Exception as exc:
            raise AuditUnavailable("the audit log is unreachable") from exc

    # --- reading -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads. On PostgreSQL in autocommit: no BEGIN and ROLLBACK round
        trips around a proof (the tables only grow, so no snapshot is needed). A store that
        cannot be reached surfaces as :class:`AuditUnavailable`, like a failed append."""
        if self._appender is not None:
            # What is journaled becomes rows first: the log's reads see every event it
            # acknowledged (and what a process that died left in the journal).
            await self._appender.flush()
        try:
            async with asyncio.timeout(self._read_timeout), self._engine.connect() as conn:
                if self._fast:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise AuditUnavailable("the audit store is unreachable") from exc

    async def size(self) -> int:
        """The number of committed leaves."""
        async with self._reader() as conn:
            size = await store.tree_size(conn)
        self._known_size = max(self._known_size, size)
        return size

    async def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: the whole tree)."""
        async with self._reader() as conn:
            if size is None:
                size = await store.tree_size(conn)
            else:
                await self._require_size(conn, size)
            return await store.root_hash(conn, size)

    async def leaf(self, index: int) -> bytes:
        """The exact canonical bytes hashed into the tree at ``index``.

        Raises ``IndexError`` when no such leaf exists.
        """
        async with self._reader() as conn:
            rows = await store.read_leaves(conn, index, index + 1)
        if not rows or index < 0:
            raise IndexError(f"no leaf at index {index}")
        return rows[0][1]

    async def _require_size(self, conn: AsyncConnection, size: int) -> None:
        if size < 0:
            raise ProofError("tree size must not be negative")
        if size > self._known_size:
            self._known_size = max(self._known_size, await store.tree_size(conn))
            if size > self._known_size:
                raise ProofError(f"the tree has only {self._known_size} leaves")

    async def inclusion_proof(self, leaf_index: int, tree_size: int) -> InclusionProof:
        """RFC 9162 inclusion proof of leaf ``leaf_index`` in the tree of ``tree_size``.

        Reads O(log n) stored nodes. Raises :class:`ProofError` for impossible sizes.
        """
        ranges = merkle.inclusion_ranges(leaf_index, tree_size)
        async with self._reader() as conn:
            await self._require_size(conn, tree_size)
            found = await store.read_nodes(conn, [(0, leaf_index), *merkle.nodes_for(ranges)])
        path = merkle.hashes_for(ranges, found.__getitem__)
        return InclusionProof(leaf_index, tree_size, found[0, leaf_index], tuple(path))

    async def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """RFC 9162 consistency proof between the trees of sizes ``first`` and ``second``."""
        ranges = merkle.consistency_ranges(first, second)
        async with self._reader() as conn:
            await self._require_size(conn, second)
            path = await store.range_hashes(conn, ranges)
        return ConsistencyProof(first, second, tuple(path))

    async def search(self, query: EventQuery) -> EventPage:
        """Auditor search over the indexed columns, newest first, cursor-paginated."""
        async with self._reader() as conn:
            subjects = (
                None
                if query.subject_nik is None
                else await self._blind_indexes(conn, query.subject_nik)
            )
            return await queries.search(conn, query, subjects)

    async def subject_accesses(
        self, nik: str, *, include_hidden: bool, now: datetime
    ) -> list[dict[str, Any]]:
        """Who touched this resident's data, oldest first: the data-subject access report.

        Entries whose ``hidden_until`` lies after ``now`` are left out unless
        ``include_hidden`` (an auditor's view): an investigation under a legal basis that
        allows delayed notice stays hidden from the resident until then.
        """
        async with self._reader() as conn:
            return await queries.subject_accesses(
                conn, await self._blind_indexes(conn, nik), include_hidden=include_hidden, now=now
            )

    async def flag_subject(
        self,
        nik: str,
        reason: str,
        *,
        now: datetime | None = None,
        agencies: Sequence[str] = (),
    ) -> None:
        """Mark a resident as sensitive: repeated lookups of them raise alerts.

        Events are indexed per agency: the flag covers the agencies with events in the
        log now and those named in ``agencies`` (flag again for an agency added later)."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**self._write_options)
            async with conn.begin():
                # Under the index of every agency in the log at this moment, and named.
                known = await self._blind_indexes(conn, nik)
                named = [self.blind_index(nik, a) for a in agencies]
                for subject in dict.fromkeys([*known, *named]):
                    await queries.flag_subject(
                        conn, subject, reason, format_time(now or datetime.now(UTC))
                    )

    async def register_officer_family(
        self, agency: str, officer: str, family_niks: Sequence[str]
    ) -> None:
        """Record the NIKs on an officer's own family card (stored blinded)."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**self._write_options)
            async with conn.begin():
                await queries.register_family(
                    conn, agency, officer, [self.blind_index(n, agency) for n in family_niks]
                )

    async def alerts(
        self,
        *,
        now: datetime,
        window: timedelta = timedelta(days=7),
        rules: alert_rules.AlertRules | None = None,
    ) -> list[Alert]:
        """Snooping flags over the lookups of the last ``window`` before ``now``."""
        async with self._reader() as conn:
            return await alert_rules.evaluate(conn, now=now, window=window, rules=rules)
