"""SQLite appends: each batch is one transaction, written where it costs least.

A batch is written by the event loop's own thread, synchronously, and so is the WAL's
fsync. Writing on a worker thread cost a GIL hand-back after every statement step
(``sqlite3`` releases the GIL around each): while the loop's thread was busy with
requests, each of those waited for it, and a batch waited several times. Handing only
the fsync to a thread still cost more than the fsync itself: the hand-off and the wake-up
of the loop afterwards took longer than the ``fdatasync`` of a few dozen WAL pages, and
every caller of the batch waited for both. The loop pauses for the fsync instead (its
requests are parsed, decided and fetched between batches, not during one); the price is
that a disk that stalls stalls the process, which its liveness probe then reports.

Durability is the same as ``synchronous=FULL``: the connection commits with
``synchronous=NORMAL`` (the WAL is written, not synced) and :meth:`SqliteAppender.append`
returns only after an ``fdatasync`` of the WAL file has covered that commit, which is
what FULL does inside the commit. A failed fsync is not retried: after one, Linux may
report later ones as clean although pages were lost, so the appender refuses every
further batch (fail closed) until the process restarts and SQLite recovers the WAL.

The loop's thread never waits for a lock: its connection has no busy timeout. When
another connection holds the write lock (a second gateway process on the same file, an
administrative write), the batch is written on the worker thread instead, which waits
for the lock as long as the busy timeout allows.

Each table's rows go in as few statements as possible: multi-row ``INSERT``s of a few
fixed sizes, compiled once per size from the table definitions (SQLAlchemy Core,
positional parameters); no SQL is ever built from event content.
"""

from __future__ import annotations

import asyncio
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
from audit.events import PreparedEvent
from audit.schema import checkpoints, event_subjects, events, node_key, tree_nodes
from audit.store import Frontier, StoredCheckpoint, batch_rows

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


# The writer copies the WAL back into the database itself only past this many pages
# (40 MiB); below it, ``checkpoint_wal`` does that work off the commit path.
_WRITER_AUTOCHECKPOINT_PAGES = 10_000


class SqliteAppender:
    """Appends batches to the audit tables of one SQLite file, one transaction each.

    Not for concurrent use: one caller appends at a time (the log's writer task), which
    ``_lock`` makes sure of for the connection's sake.

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
        self._lock = asyncio.Lock()  # the connection: inline use or the worker thread's
        self._broken = False  # an fsync failed: nothing more is written
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._wal_conn: sqlite3.Connection | None = None
        self._wal_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-wal")

    def __repr__(self) -> str:
        return f"SqliteAppender({self._path.name!r})"

    async def append(self, batch: Sequence[PreparedEvent], cached: Frontier | None) -> Frontier:
        """Write ``batch`` at the end of the tree, durably; returns the new frontier.

        ``cached`` is trusted only when the database says the tree still has its size
        (another process may have appended since).
        """
        frontier = await self._write(functools.partial(self._append, batch, cached))
        await self._sync()
        return frontier

    async def insert_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a signed checkpoint (a concurrent signer may have stored that size)."""
        await self._write(functools.partial(self._insert_checkpoint, checkpoint))
        await self._sync()

    async def checkpoint_wal(self) -> tuple[int, int]:
        """Copy committed pages from the WAL into the database file (a PASSIVE checkpoint:
        as far as readers allow, without blocking writers); returns the WAL's size and
        the pages copied so far, in pages."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._wal_thread, self._checkpoint_wal)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._close()
        await loop.run_in_executor(self._wal_thread, self._close_wal)
        self._thread.shutdown(wait=True)
        self._wal_thread.shutdown(wait=True)

    async def _write(self, write: Callable[[], _R]) -> _R:
        """Run one transaction: here, unless another connection holds the write lock;
        then on the worker thread, which waits for it."""
        if self._broken:
            raise AuditUnavailable("an fsync of the audit WAL failed; restart to recover")
        async with self._lock:
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

    async def _sync(self) -> None:
        """Make every commit so far durable: one ``fdatasync`` of the WAL, here."""
        try:
            _fdatasync(self._wal)
        except OSError as exc:
            self._broken = True
            logger.error(
                "audit: an fsync of the WAL failed (%s); appends stop until restart",
                type(exc).__name__,
            )
            raise AuditUnavailable("an fsync of the audit WAL failed") from exc

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
                # Commits write the WAL without syncing it; ``_sync`` does, before any
                # caller hears of the commit (FULL's guarantee, one fsync per batch).
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

    def _append(self, batch: Sequence[PreparedEvent], cached: Frontier | None) -> Frontier:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            last = conn.execute(_SIZE).fetchone()[0]
            size = 0 if last is None else int(last) + 1
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
