"""The audit log service: group-committed appends, checkpoints, proofs and queries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from audit import alerts as alert_rules
from audit import merkle, queries, store
from audit.checkpoint import CheckpointSigner, parse_note
from audit.drivers import WRITER_STATS, Writer, writer_for
from audit.errors import AuditUnavailable, ProofError
from audit.events import agency_blind_key, blind_index, format_time, prepare
from audit.models import Alert, ConsistencyProof, EventPage, EventQuery, InclusionProof, Receipt
from audit.queue import BatchQueue, Pending, expire
from audit.sqlite_writer import database_file

logger = logging.getLogger("satugate.audit")

__all__ = ["WRITER_STATS", "AuditLog"]


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

    Events wait in a :class:`~audit.queue.BatchQueue`; the writer of the database's
    kind (:mod:`audit.drivers`) commits them. On SQLite the engine is configured by
    :func:`audit.configure_sqlite` (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` for
    appends); the owner of the engine should call it before the first connection.
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
        self._engine = engine
        self._signer = signer
        self._blind_key = blind_key
        self._agency_keys: dict[str, bytes] = {}
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._interval = checkpoint_interval
        self._timeout = commit_timeout
        self._read_timeout = read_timeout
        self._queue = BatchQueue(max_batch=max_batch, max_wait=self._max_wait)
        self._writer: Writer = writer_for(
            engine, commit_timeout=commit_timeout, on_commit=on_commit, on_failure=on_failure
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._known_size = 0
        self._origin_ok = False

    def __repr__(self) -> str:
        return f"AuditLog(origin={self._signer.origin!r}, running={self._running})"

    @property
    def stats(self) -> dict[str, int]:
        """Counters of the writer: committed batches and events, how each batch was
        written (PostgreSQL: in one round trip on the predicted tree, or placed by the
        database; SQLite: in a locked transaction), batches sent on a predicted tree the
        database did not hold (then placed by the database), failed batches."""
        return self._writer.stats

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
        self._queue = BatchQueue(max_batch=self._max_batch, max_wait=self._max_wait)
        await self._writer.open()
        self._running = True
        self._tasks = [
            asyncio.create_task(self._writer.run(self._queue), name="audit-writer"),
            asyncio.create_task(self._run_checkpointer(), name="audit-checkpointer"),
        ]

    async def stop(self) -> None:
        """Commit what is queued, stop the tasks, and sign a last checkpoint if possible."""
        if not self._running:
            return
        self._running = False
        self._queue.close()
        writer, checkpointer = self._tasks
        checkpointer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checkpointer
        await writer
        self._tasks = []
        await self._writer.aclose()
        try:
            await self._sign_if_grown()
        except Exception:  # the log stays consistent; the next start signs instead
            logger.warning("audit: final checkpoint could not be signed", exc_info=True)

    @contextlib.asynccontextmanager
    async def elsewhere(self) -> AsyncIterator[AuditLog]:
        """This log on an engine of its own: the same database and keys, for reads and
        checkpoints (``checkpoint(keep=False)``) from another thread's event loop (enter
        it on that loop). It appends nothing; its connections are closed on exit.

        The database must outlive this process's engine: a file or a server, not memory.
        """
        url = self._engine.url
        if url.get_backend_name() == "sqlite" and database_file(url) is None:
            raise ValueError("an in-memory audit log cannot be read from another engine")
        engine = create_async_engine(url, pool_size=2, max_overflow=2)
        try:
            yield AuditLog(
                engine,
                signer=self._signer,
                blind_key=self._blind_key,
                checkpoint_interval=self._interval,
                commit_timeout=self._timeout,
                read_timeout=self._read_timeout,
            )
        finally:
            await engine.dispose()

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
        self._queue.put(Pending(prepared, future))
        # On timeout the future fails, and the writer skips it if it has not taken it yet.
        timer = loop.call_later(self._timeout, expire, future)
        try:
            index = await future
        finally:
            timer.cancel()
        return Receipt(prepared.event_id, index)

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
            try:
                await self._writer.maintain()
            except Exception as exc:  # retried next interval; the writer's limit holds
                logger.warning("audit: WAL checkpoint failed (%s)", type(exc).__name__)

    async def _sign_if_grown(self) -> store.StoredCheckpoint:
        """Sign a checkpoint for the current size unless the latest one already covers it,
        and store it."""
        signed, new = await self._head()
        if new:
            await self._writer.insert_checkpoint(signed)
            self._known_size = max(self._known_size, signed.tree_size)
        return signed

    async def _head(self) -> tuple[store.StoredCheckpoint, bool]:
        """The latest stored checkpoint if it covers the tree, else one signed now for the
        tree as it is (True: not stored yet).

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
                return latest, False
            root = await store.root_hash(conn, size)
            if latest is not None and latest.tree_size > 0:
                ranges = merkle.consistency_ranges(latest.tree_size, size)
                proof = await store.range_hashes(conn, ranges)
                merkle.verify_consistency(latest.tree_size, size, proof, latest.root_hash, root)
            await conn.rollback()
        note = self._signer.sign(size, root)
        return store.StoredCheckpoint(size, root, note, format_time(datetime.now(UTC))), True

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

    async def checkpoint(self, *, keep: bool = True) -> str:
        """The latest signed checkpoint note, signing a new one if the tree has grown.

        ``keep=False`` leaves a new one unstored (the log's checkpointer stores its own
        each interval): for a log opened :meth:`elsewhere`, which must not take the
        database's write lock from the log's writer.
        """
        try:
            return (await self._sign_if_grown() if keep else (await self._head())[0]).note
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
        await self._writer.before_read()
        try:
            async with asyncio.timeout(self._read_timeout), self._engine.connect() as conn:
                if self._writer.read_options:
                    conn = await conn.execution_options(**self._writer.read_options)
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
        confirmed = self._writer.confirmed
        if confirmed is not None:
            self._known_size = max(self._known_size, confirmed.size)
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
        async with self._writer.transaction() as conn:
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
        async with self._writer.transaction() as conn:
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
