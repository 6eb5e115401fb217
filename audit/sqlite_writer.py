"""SQLite appends: a batch is durable in the commit journal, then rows in few transactions.

A batch is acknowledged once its leaves are in the log's commit journal
(:mod:`audit.journal`) and the journal is synced: one small write into preallocated
space and one ``fdatasync``, by the event loop's own thread. Its rows, nodes and
indexes go into the database afterwards, for every batch journaled meanwhile at once
(within ``_FLUSH_AFTER``, or sooner when many wait), followed by one ``fdatasync`` of
the WAL, after which the journal starts a new chain. A read of the log through
:class:`audit.AuditLog` writes what is journaled first, so the log's own reads always
see every acknowledged event; another process reading the file sees them within
``_FLUSH_AFTER``. After a crash, whoever appends or reads next writes the journal's
batches that the database lacks.

Why not one transaction and one WAL fsync per batch, as before: under moderate load a
batch holds a few events, and its SQLite transaction (eleven B-trees) and the fsync of
its WAL pages paused the event loop for about half a millisecond, hundreds of times a
second; every request behind it waited. Writing the rows on a worker thread, or syncing
there, cost more (a GIL hand-back after every statement step, and a wake-up of the loop
afterwards), and so did a sync through io_uring or by a writer process (measured). The
loop still pauses for the journal's sync: a disk that stalls stalls the process, which
its liveness probe then reports.

A failed fsync is not retried: after one, Linux may report later ones as clean although
pages were lost, so the appender refuses every further batch (fail closed) until the
process restarts and the journal and SQLite's WAL are recovered.

Several processes may append to one file (gateway workers, an administrative command).
The journal's ``flock`` decides who journals; a holder lets go after each flush. A batch
that finds the lock held waits for it on the worker thread and is then written the
direct way: one transaction and one WAL fsync. The loop's thread never waits for a lock:
its connection has no busy timeout, and a flush that finds SQLite's write lock held
(an administrative write) runs on the worker thread instead, which waits for it as long
as the busy timeout allows.

Each table's rows go in as few statements as possible: multi-row ``INSERT``s of a few
fixed sizes, compiled once per size from the table definitions (SQLAlchemy Core,
positional parameters); no SQL is ever built from event content.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL

from audit import merkle
from audit.errors import AuditUnavailable, ProofError
from audit.events import PreparedEvent, from_leaf
from audit.journal import CommitJournal, JournalFull, Record
from audit.schema import checkpoints, event_subjects, events, node_key, tree_nodes
from audit.store import BatchRows, Frontier, StoredCheckpoint, batch_rows

_R = TypeVar("_R")
logger = logging.getLogger("satugate.audit")
_DIALECT = sqlite.dialect(paramstyle="named")
_POSITIONAL = sqlite.dialect(paramstyle="qmark")


def _sql(stmt: object) -> str:
    return str(stmt.compile(dialect=_DIALECT))  # type: ignore[attr-defined]


_TABLES = {t.name: t for t in (events, event_subjects, tree_nodes)}
_CHUNK = 64  # rows per statement at most: 64 events use 704 of SQLite's 32,766 parameters


@functools.cache
def _insert_rows(table: str, rows: int) -> tuple[str, tuple[str, ...]]:
    """``INSERT`` of ``rows`` rows into ``table`` with positional parameters, and the
    column of each parameter within its row."""
    columns = [c.name for c in _TABLES[table].c]
    values: list[dict[str, Any]] = [
        {c: bindparam(f"{c}_{i}") for c in columns} for i in range(rows)
    ]
    compiled = insert(_TABLES[table]).values(values).compile(dialect=_POSITIONAL)
    order = compiled.positiontup or []
    expected = [f"{c}_{i}" for i in range(rows) for c in columns]
    assert list(order) == expected, "the dialect orders the parameters row by row"
    return str(compiled), tuple(columns)


def _chunks(rows: Sequence[Mapping[str, Any]]) -> Iterator[Sequence[Mapping[str, Any]]]:
    """Runs of 64 rows, then the rest in powers of two: a handful of statement sizes."""
    start, left = 0, len(rows)
    while left:
        size = _CHUNK if left >= _CHUNK else 1 << (left.bit_length() - 1)
        yield rows[start : start + size]
        start, left = start + size, left - size


def _insert(conn: sqlite3.Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    for chunk in _chunks(rows):
        sql, columns = _insert_rows(table.name, len(chunk))
        conn.execute(sql, [row[c] for row in chunk for c in columns])


_INSERT_CHECKPOINT = _sql(sqlite.insert(checkpoints).on_conflict_do_nothing())
_SIZE = _sql(select(func.max(events.c.leaf_index)))
_KEYS = func.json_each(bindparam("keys")).table_valued("value")
_IDS = func.json_each(bindparam("ids")).table_valued("value")
_EXISTING_IDS = _sql(select(func.count()).where(events.c.event_id.in_(select(_IDS.c.value))))
_NODES = _sql(
    select(tree_nodes.c.node, tree_nodes.c.hash).where(tree_nodes.c.node.in_(select(_KEYS.c.value)))
)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock (any of SQLite's extended BUSY codes)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _fdatasync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def database_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, when it is a plain file this writer can open."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or url.query:
        return None  # URI forms (shared memory, read-only modes) keep the async path
    return Path(database)


_FLUSH_AFTER = 0.05
"""Seconds from a journaled batch to its rows in the database, at most (unless it fails)."""
_FLUSH_EVENTS = 4096
"""Journaled events that make a flush start at once."""

# The writer copies the WAL back into the database itself only past this many pages
# (40 MiB); below it, ``checkpoint_wal`` does that work off the commit path.
_WRITER_AUTOCHECKPOINT_PAGES = 10_000


class SqliteAppender:
    """Appends batches to the audit tables of one SQLite file, through its commit journal.

    Not for concurrent use: one caller appends at a time (the log's writer task), which
    ``_lock`` makes sure of for the connection's and the journal's sake.

    SQLite's WAL is copied back into the database by ``checkpoint_wal``, on a thread and
    connection of its own, not by whichever commit happens to cross the WAL's size limit:
    that commit would otherwise wait for a copy of the whole WAL and its fsyncs. A
    PASSIVE checkpoint takes no write lock, so appends go on meanwhile.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = path
        self._wal = path.with_name(path.name + "-wal")
        self._busy_timeout = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()  # the connection and the journal
        self._broken = False  # an fsync failed: nothing more is written
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._wal_conn: sqlite3.Connection | None = None
        self._wal_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-wal")
        self._journal: CommitJournal | None = None
        self._held = False  # this appender holds the journal's lock
        self._tree: Frontier | None = None  # while held: the tree, journaled batches included
        self._pending: list[BatchRows] = []  # journaled, not yet in the database
        self._pending_ids: set[str] = set()
        self._flushing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SqliteAppender({self._path.name!r})"

    @property
    def journal_path(self) -> Path:
        return self._path.with_name(self._path.name + "-commits")

    async def append(self, batch: Sequence[PreparedEvent], cached: Frontier | None) -> Frontier:
        """Write ``batch`` at the end of the tree, durably; returns the new frontier.

        ``cached`` is trusted only when the database says the tree still has its size
        (another process may have appended since).
        """
        self._refuse_if_broken()
        async with self._lock:
            if self._hold(cached):
                frontier = self._journal_batch(batch)
                self._schedule_flush()
                return frontier
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._append_exclusively, batch, cached)

    async def flush(self) -> None:
        """Write every journaled batch into the database (and, when this process holds no
        batch of its own, any that a process which died left in the journal)."""
        async with self._lock:
            try:
                await self._flush_locked()
            except AuditUnavailable:
                raise
            except (sqlite3.Error, OSError, ProofError) as exc:
                raise AuditUnavailable("the audit journal could not be written out") from exc

    async def insert_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a signed checkpoint (a concurrent signer may have stored that size)."""
        self._refuse_if_broken()
        async with self._lock:
            await self._write(functools.partial(self._insert_checkpoint, checkpoint))
            self._sync_wal()

    async def checkpoint_wal(self) -> tuple[int, int]:
        """Copy committed pages from the WAL into the database file (a PASSIVE checkpoint:
        as far as readers allow, without blocking writers); returns the WAL's size and
        the pages copied so far, in pages."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._wal_thread, self._checkpoint_wal)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        async with self._lock:
            try:
                await self._flush_locked()
            except Exception as exc:  # the journal keeps the batches for the next start
                logger.warning("audit: the journal was not written out (%s)", type(exc).__name__)
            finally:
                self._release()
                if self._journal is not None:
                    self._journal.close()
                    self._journal = None
                self._close()
        await loop.run_in_executor(self._wal_thread, self._close_wal)
        self._thread.shutdown(wait=True)
        self._wal_thread.shutdown(wait=True)

    # --- the journal, on the loop's thread --------------------------------------------

    def _refuse_if_broken(self) -> None:
        if self._broken:
            raise AuditUnavailable("an fsync of the audit log failed; restart to recover")

    def _open_journal(self) -> CommitJournal:
        if self._journal is None:
            self._journal = CommitJournal(self.journal_path)
        return self._journal

    def _hold(self, cached: Frontier | None) -> bool:
        """Hold the journal's lock, with the tree known; False when another appender
        holds it, or when SQLite's write lock is needed to take over and is busy."""
        if self._held:
            return True
        journal = self._open_journal()
        if not journal.try_lock():
            return False
        try:
            self._tree = self._take_over(cached)
        except sqlite3.OperationalError as exc:
            journal.unlock()
            if _busy(exc):
                return False
            self._close()
            raise
        except BaseException:
            journal.unlock()
            raise
        self._held = True
        return True

    def _journal_batch(self, batch: Sequence[PreparedEvent]) -> Frontier:
        assert self._journal is not None and self._tree is not None
        self._check_new(batch)
        tree = self._tree
        rows = batch_rows(tree, batch)
        leaves = [p.leaf for p in batch]
        try:
            try:
                self._journal.append(tree.size, leaves)
            except JournalFull:
                self._write_out()
                self._journal.append(tree.size, leaves)
        except OSError as exc:
            self._fail_sync(exc)
        self._pending.append(rows)
        self._pending_ids.update(p.event_id for p in batch)
        self._tree = rows.frontier
        return rows.frontier

    def _check_new(self, batch: Sequence[PreparedEvent]) -> None:
        """Refuse a batch whose event ids are taken, as the database would: it must fail
        now, not when its rows are written after it was acknowledged. Ids that the log
        made itself (UUIDv7) are not looked up in the database: should one ever repeat
        there, the write-out fails and the log stops (fail closed), it loses nothing."""
        ids = [p.event_id for p in batch]
        taken = len(set(ids)) != len(ids) or not self._pending_ids.isdisjoint(ids)
        given = [p.event_id for p in batch if not p.fresh_id]
        if given and not taken:
            conn = self._connect()
            taken = conn.execute(_EXISTING_IDS, {"ids": json.dumps(given)}).fetchone()[0] > 0
        if taken:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: audit_events.event_id")

    def _schedule_flush(self) -> None:
        if self._flushing is None and self._pending:
            waiting = sum(len(r.events) for r in self._pending)
            delay = 0.0 if waiting >= _FLUSH_EVENTS else _FLUSH_AFTER
            self._flushing = asyncio.get_running_loop().create_task(self._flush_after(delay))

    async def _flush_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            await self.flush()
        except AuditUnavailable as exc:  # the journal keeps the batches for the next holder
            logger.warning("audit: writing the journal out failed (%s)", exc)
        finally:
            self._flushing = None
        self._schedule_flush()

    async def _flush_locked(self) -> None:
        if self._broken:
            # An fsync failed: nothing more is written. What this process journaled is
            # written out by the next start; until then its reads would miss it.
            if self._pending:
                raise AuditUnavailable("an fsync of the audit log failed; restart to recover")
            return
        if not self._held:
            # No batch of ours: write out what a holder that died left, if the lock is free.
            journal = self._open_journal()
            if not journal.try_lock():
                return
            try:
                await self._write(functools.partial(self._write_out_chain, None))
            finally:
                journal.unlock()
            return
        try:
            await self._write(self._write_out)
        finally:
            self._release()

    def _release(self) -> None:
        """Let go of the journal: another appender may take it (and, if batches of ours
        are still in it, write them out first)."""
        self._pending.clear()
        self._pending_ids.clear()
        self._tree = None
        if self._held:
            self._held = False
            assert self._journal is not None
            self._journal.unlock()

    def _write_out(self) -> None:
        """Write the journaled batches into the database, sync them, and start a new
        chain (a transaction: on the worker thread when SQLite's write lock is busy)."""
        if self._pending:
            self._write_pending()
            self._sync_wal()
        assert self._journal is not None and self._tree is not None
        self._journal.reset(self._tree.size)
        self._pending.clear()
        self._pending_ids.clear()

    def _sync_wal(self) -> None:
        """Make every commit so far durable: one ``fdatasync`` of the WAL, here."""
        try:
            _fdatasync(self._wal)
        except OSError as exc:
            self._fail_sync(exc)

    def _fail_sync(self, exc: OSError) -> None:
        self._broken = True
        logger.error("audit: an fsync failed (%s); appends stop until restart", type(exc).__name__)
        raise AuditUnavailable("an fsync of the audit log failed") from exc

    async def _write(self, write: Callable[[], _R]) -> _R:
        """Run one transaction (the caller holds ``_lock``): here, unless another
        connection holds the write lock; then on the worker thread, which waits for it."""
        try:
            return write()
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._waiting, write)

    def _waiting(self, write: Callable[[], _R]) -> _R:
        conn = self._connect()
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout)}")
        try:
            return write()
        finally:
            if self._conn is not None:
                self._conn.execute("PRAGMA busy_timeout=0")

    # --- on the WAL thread -------------------------------------------------------------

    def _checkpoint_wal(self) -> tuple[int, int]:
        if self._wal_conn is None:
            self._wal_conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._wal_conn.execute("PRAGMA synchronous=FULL")
        try:
            _busy, pages, copied = self._wal_conn.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
        except BaseException:
            self._close_wal()
            raise
        return int(pages), int(copied)

    def _close_wal(self) -> None:
        if self._wal_conn is not None:
            self._wal_conn.close()
            self._wal_conn = None

    # --- under the lock: on the loop's thread, or on the worker thread -----------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=0
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # Commits write the WAL without syncing it; ``_sync_wal`` does, before
                # the journal lets go of what they hold (FULL's guarantee, fewer fsyncs).
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA wal_autocheckpoint={_WRITER_AUTOCHECKPOINT_PAGES}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _size(self) -> int:
        last = self._connect().execute(_SIZE).fetchone()[0]
        return 0 if last is None else int(last) + 1

    def _take_over(self, cached: Frontier | None) -> Frontier:
        """With the journal's lock just taken: write out what a holder that died left,
        start a new chain where the database ends; returns the tree."""
        assert self._journal is not None
        tree = self._write_out_chain(cached)
        size = self._size()
        self._journal.reset(size)
        if tree is not None and tree.size == size:
            return tree
        return cached if cached is not None and cached.size == size else self._frontier(size)

    def _write_out_chain(self, cached: Frontier | None) -> Frontier | None:
        """Write the chain's batches that the database lacks, and sync them; returns the
        tree after them, None when the chain held no batch."""
        assert self._journal is not None
        chain = self._journal.read_chain()
        if not any(r.leaves for r in chain):
            return None
        tree = None
        beyond = _leaves_from(chain, self._size())
        if beyond:
            tree = self._append([from_leaf(leaf) for leaf in beyond], cached)
            logger.warning("audit: %d journaled events written after a stop", len(beyond))
        # Rows that a holder wrote before it died may not be synced: sync them before
        # the chain that holds them is dropped.
        self._sync_wal()
        self._journal.reset(self._size())
        return tree

    def _write_pending(self) -> None:
        rows = self._pending
        first = int(rows[0].events[0]["leaf_index"])  # type: ignore[call-overload]
        conn = self._connect()
        self._begin(conn)
        try:
            if self._size() != first:
                raise ProofError("the audit tree grew behind the journal's lock")
            _insert(conn, events, [e for r in rows for e in r.events])
            _insert(conn, event_subjects, [e for r in rows for e in r.subjects])
            _insert(conn, tree_nodes, [e for r in rows for e in r.nodes])
            conn.execute("COMMIT")
        except BaseException:
            self._close()
            raise

    def _append_exclusively(
        self, batch: Sequence[PreparedEvent], cached: Frontier | None
    ) -> Frontier:
        """On the worker thread: wait for the journal's lock, write out what it holds,
        then write ``batch`` the direct way (one transaction, one WAL fsync)."""
        journal = self._open_journal()
        journal.lock()
        try:
            self._connect().execute(f"PRAGMA busy_timeout={int(self._busy_timeout)}")
            self._write_out_chain(None)
            frontier = self._append(batch, cached)
            self._sync_wal()
            return frontier
        finally:
            if self._conn is not None:
                self._conn.execute("PRAGMA busy_timeout=0")
            journal.unlock()

    @staticmethod
    def _begin(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _append(self, batch: Sequence[PreparedEvent], cached: Frontier | None) -> Frontier:
        conn = self._connect()
        self._begin(conn)
        try:
            size = self._size()
            old = cached if cached is not None and cached.size == size else self._frontier(size)
            rows = batch_rows(old, batch)
            _insert(conn, events, rows.events)
            _insert(conn, event_subjects, rows.subjects)
            _insert(conn, tree_nodes, rows.nodes)
            conn.execute("COMMIT")
        except BaseException:
            # Whatever failed, nothing of the batch stays: roll back, and start the next
            # batch on a fresh connection.
            self._close()
            raise
        return rows.frontier

    def _insert_checkpoint(self, cp: StoredCheckpoint) -> None:
        conn = self._connect()
        try:
            conn.execute(
                _INSERT_CHECKPOINT,
                {
                    "tree_size": cp.tree_size,
                    "root_hash": cp.root_hash,
                    "note": cp.note,
                    "created_at": cp.created_at,
                },
            )
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                self._close()
            raise
        except BaseException:
            self._close()
            raise

    def _frontier(self, size: int) -> Frontier:
        assert self._conn is not None
        nodes = merkle.root_nodes(size)
        keys = {node_key(lv, ix): (lv, ix) for lv, ix in nodes}
        rows = self._conn.execute(_NODES, {"keys": json.dumps(list(keys))}).fetchall()
        found = {keys[int(r[0])]: bytes(r[1]) for r in rows}
        if len(found) != len(keys):
            raise ProofError("the tree's node table is missing nodes")
        return Frontier(size, tuple(found[n] for n in nodes))


def _leaves_from(chain: Sequence[Record], size: int) -> list[bytes]:
    """The journaled leaves from index ``size`` on; the chain must reach back to it."""
    records = [r for r in chain if r.leaves and r.end > size]
    if not records:
        return []
    if records[0].first > size:
        raise ProofError(
            f"the audit journal starts at leaf {records[0].first}, past the database's {size}"
        )
    return [leaf for r in records for i, leaf in enumerate(r.leaves) if r.first + i >= size]
