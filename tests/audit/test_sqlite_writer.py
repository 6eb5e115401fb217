"""SQLite appends through the one-hop writer: several writers, one tree; failures leave nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit
from audit import journal, merkle, sqlite_writer
from audit.drivers import SqliteFileWriter
from audit.events import blind_index, prepare
from audit.journal import CommitJournal, Record, encode
from audit.sqlite_writer import SqliteAppender, _chunks, database_file
from tests.audit.conftest import BLIND_KEY, lookup
from tests.audit.test_postgres_replicas import check_one_tree


def file_appender(log: audit.AuditLog) -> SqliteAppender:
    """The running appender of a log kept in a SQLite file."""
    writer = log._writer
    assert isinstance(writer, SqliteFileWriter) and writer.appender is not None
    return writer.appender


def test_only_plain_files_take_the_one_hop_writer(tmp_path: Path) -> None:
    assert database_file(make_url(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")) == tmp_path / "a.db"
    assert database_file(make_url("sqlite+aiosqlite:///:memory:")) is None
    assert database_file(make_url("sqlite+aiosqlite:///file:a.db?mode=ro&uri=true")) is None
    assert database_file(make_url("postgresql+asyncpg://u@h/db")) is None


async def test_two_logs_on_one_file_build_one_tree(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> None:
    """Two writers (two gateway processes on one file): each sees the other's leaves."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engines = [create_async_engine(url), create_async_engine(url)]
    await audit.install_schema(engines[0])
    logs = [
        audit.AuditLog(e, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=0.05)
        for e in engines
    ]
    try:
        for log in logs:
            await log.start()
        receipts = []
        for round_ in range(5):
            receipts += await asyncio.gather(
                *(logs[i % 2].append(lookup(f"o{i}")) for i in range(60 * round_, 60 * round_ + 60))
            )
            await asyncio.sleep(0.06)
        assert sorted(r.leaf_index for r in receipts) == list(range(300))
        await logs[1].checkpoint()
        await check_one_tree(engines[0], logs[0], 300)
    finally:
        for log in logs:
            await log.stop()
        for e in engines:
            await e.dispose()


@pytest.fixture
async def file_engine(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Path]]:
    """An engine on a SQLite file with the audit schema, and the file."""
    path = tmp_path / "audit.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    await audit.install_schema(engine)
    yield engine, path
    await engine.dispose()


@pytest.fixture
async def file_log(
    file_engine: tuple[AsyncEngine, Path], signer: audit.CheckpointSigner
) -> AsyncIterator[tuple[audit.AuditLog, Path]]:
    """A running log on a SQLite file, and the file (to read it as another process)."""
    engine, path = file_engine
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    await log.start()
    yield log, path
    await log.stop()


async def test_a_failed_batch_writes_nothing_and_the_next_one_succeeds(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    log, path = file_log
    first = await log.append(lookup("a"))
    # The same event id again: the unique constraint fails the whole batch.
    duplicate = {**lookup("b"), "event_id": first.event_id}
    with pytest.raises(audit.AuditUnavailable):
        await log.append(duplicate)
    after = await log.append(lookup("c"))
    assert after.leaf_index == 1
    assert await log.size() == 2  # a read through the log writes the journal out first
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 2
        leaves = conn.execute("SELECT count(*) FROM audit_tree_nodes WHERE node < 2").fetchone()
        assert leaves[0] == 2
    assert log.stats["failed_batches"] == 1


async def test_an_acknowledged_event_is_journaled_and_then_a_row(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """When append returns, the event is in the commit journal; its row follows within
    the flush delay, without a read to prompt it, and another connection sees it."""
    log, path = file_log
    receipt = await log.append(lookup("d"))
    chain = _chain(path)
    assert [(r.first, len(r.leaves)) for r in chain if r.leaves] == [(receipt.leaf_index, 1)]
    assert json.loads(chain[-1].leaves[0])["event_id"] == receipt.event_id
    await asyncio.sleep(sqlite_writer._FLUSH_AFTER * 4)
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT event_id FROM audit_events WHERE leaf_index = ?", (receipt.leaf_index,)
        ).fetchone()
    assert row == (receipt.event_id,)
    assert not any(r.leaves for r in _chain(path)), "a new chain starts once rows are synced"
    assert log.stats["locked_transaction"] == 1


def test_rows_go_in_runs_of_a_few_statement_sizes() -> None:
    for count in (0, 1, 3, 16, 63, 64, 65, 130, 512):
        rows = [{"n": i} for i in range(count)]
        runs = list(_chunks(rows))
        assert [r for run in runs for r in run] == rows
        assert all(len(run) in (1, 2, 4, 8, 16, 32, 64) for run in runs)
        assert len(runs) <= count // 64 + 6


async def test_batches_of_every_shape_build_the_right_tree(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """Batches that split into several multi-row statements (and several subjects per
    event) store every leaf, subject and node: the stored root is recomputed from the
    leaves, and every event is found by each of its subjects."""
    log, path = file_log
    receipts = []
    for size in (1, 3, 64, 65, 130):
        receipts += await asyncio.gather(
            *(
                log.append(lookup(f"o{size}.{i}"), subject_niks=[f"35780101019000{i % 10}", "x"])
                for i in range(size)
            )
        )
    total = 1 + 3 + 64 + 65 + 130
    assert sorted(r.leaf_index for r in receipts) == list(range(total))
    root = await log.root()
    with sqlite3.connect(path) as conn:
        leaves = [r[0] for r in conn.execute("SELECT leaf FROM audit_events ORDER BY leaf_index")]
        subjects = conn.execute("SELECT count(*) FROM audit_event_subjects").fetchone()[0]
    assert merkle.root_from_leaves(leaves) == root
    assert subjects == 2 * total


async def test_the_wal_is_copied_back_off_the_commit_path(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """Commits leave the WAL to the checkpointer (up to the writer's own large limit);
    the checkpointer's PASSIVE checkpoint copies all of it while appends go on."""
    log, path = file_log
    appender = file_appender(log)
    assert appender is not None
    await asyncio.gather(*(log.append(lookup(f"w{i}")) for i in range(200)))
    await appender.flush()
    assert appender._conn is not None
    limit = appender._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert limit == 10_000
    concurrent = asyncio.gather(*(log.append(lookup(f"v{i}")) for i in range(50)))
    pages, copied = await appender.checkpoint_wal()
    assert pages > 0 and 0 <= copied <= pages
    assert len(await concurrent) == 50
    await appender.flush()
    pages, copied = await appender.checkpoint_wal()
    assert copied == pages > 0, "with no reader in the way, the whole WAL is copied"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 250


async def test_a_batch_is_synced_in_the_journal_before_its_caller_hears_of_it(
    file_log: tuple[audit.AuditLog, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is synced with the batch in it while its caller still waits; its rows
    are committed without a sync (``synchronous=NORMAL``), then the WAL is synced, and
    only then does the journal drop the batch."""
    log, path = file_log
    journal_syncs: list[tuple[list[int], bool]] = []
    wal_syncs: list[tuple[Path, int, bool]] = []
    task: asyncio.Task[audit.Receipt] | None = None
    real_journal, real_wal = journal._fdatasync, sqlite_writer._fdatasync

    def journal_syncing(fd: int) -> None:
        firsts = [r.first for r in _chain(path) if r.leaves]
        journal_syncs.append((firsts, task is not None and task.done()))
        real_journal(fd)

    def wal_syncing(wal: Path) -> None:
        with sqlite3.connect(path) as conn:
            committed = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        wal_syncs.append((wal, committed, any(r.leaves for r in _chain(path))))
        real_wal(wal)

    monkeypatch.setattr(journal, "_fdatasync", journal_syncing)
    monkeypatch.setattr(sqlite_writer, "_fdatasync", wal_syncing)
    task = asyncio.create_task(log.append(lookup("s")))
    receipt = await task
    assert journal_syncs == [([receipt.leaf_index], False)]
    assert wal_syncs == []
    await log.size()
    assert wal_syncs == [(path.with_name(path.name + "-wal"), receipt.leaf_index + 1, True)]
    appender = file_appender(log)
    assert appender is not None and appender._conn is not None
    assert appender._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


@pytest.mark.parametrize("which", ["journal", "wal"])
async def test_a_failed_fsync_stops_every_later_append(
    file_log: tuple[audit.AuditLog, Path], monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """After a failed fsync the kernel may call later ones clean although pages were
    lost: the log fails closed for good instead of trusting them. The journal's sync
    fails the batch it carries; the WAL's, when journaled rows are written out."""
    log, _path = file_log
    await log.append(lookup("before"))

    def failing(_target: object) -> None:
        raise OSError(5, "Input/output error")

    if which == "journal":
        monkeypatch.setattr(journal, "_fdatasync", failing)
        with pytest.raises(audit.AuditUnavailable):
            await log.append(lookup("lost"))
    else:
        monkeypatch.setattr(sqlite_writer, "_fdatasync", failing)
        with pytest.raises(audit.AuditUnavailable):
            await log.size()
    monkeypatch.undo()
    with pytest.raises(audit.AuditUnavailable):
        await log.append(lookup("after"))
    assert log.stats["failed_batches"] == (2 if which == "journal" else 1)


@contextlib.asynccontextmanager
async def _ticking() -> AsyncIterator[list[int]]:
    """Counts the event loop's 10 ms ticks meanwhile: a loop that is blocked stops it."""
    ticks = [0]

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.01)
            ticks[0] += 1

    task = asyncio.create_task(ticker())
    try:
        yield ticks
    finally:
        task.cancel()


async def test_a_batch_is_journaled_while_another_connection_holds_the_write_lock(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """While another connection holds SQLite's write lock, appends are still journaled
    and acknowledged; writing them out waits on the worker thread while the event loop
    keeps running, and lands once the lock is free."""
    log, path = file_log
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with _ticking() as ticks:
            receipt = await asyncio.wait_for(log.append(lookup("journaled")), 5)
            assert receipt.leaf_index == 0
            reading = asyncio.create_task(log.size())
            await asyncio.sleep(0.3)
            assert not reading.done(), "the rows cannot be written while the lock is held"
            assert ticks[0] >= 10, "the loop was not blocked by the waiting write"
        other.execute("COMMIT")
        assert await asyncio.wait_for(reading, 5) == 1
    finally:
        other.close()
    after = await log.append(lookup("inline again"))
    assert after.leaf_index == 1
    assert log.stats["failed_batches"] == 0
    assert await log.size() == 2


async def test_a_batch_waits_off_the_event_loop_while_another_appender_journals(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """While another process holds the journal, a batch waits for it on the worker
    thread, then is written the direct way: a row as soon as it is acknowledged."""
    log, path = file_log
    await log.append(lookup("first"))
    await log.size()  # written out: this log lets go of the journal
    holder = CommitJournal(path.with_name(path.name + "-commits"))
    holder.lock()
    try:
        async with _ticking() as ticks:
            pending = asyncio.create_task(log.append(lookup("waits")))
            await asyncio.sleep(0.3)
            assert not pending.done(), "the batch waits for the journal's holder"
            assert ticks[0] >= 10, "the loop was not blocked by the waiting batch"
        holder.unlock()
        receipt = await asyncio.wait_for(pending, 5)
    finally:
        holder.close()
    assert receipt.leaf_index == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 2


# --- after a crash: the journal holds batches that the database lacks ------------------


def _journal_leaves(path: Path, start: int, count: int) -> list[bytes]:
    """Journal ``count`` lookups from leaf ``start`` on, as a holder that died would
    have left them (in batches of up to two); returns their leaves."""
    leaves = [
        prepare(lookup(f"j{start + i}"), [blind_index(BLIND_KEY, "3578010101900001")]).leaf
        for i in range(count)
    ]
    holder = CommitJournal(path.with_name(path.name + "-commits"))
    try:
        holder.lock()
        holder.read_chain()
        holder.reset(start)
        for i in range(0, count, 2):
            holder.append(start + i, leaves[i : i + 2])
    finally:
        holder.close()
    return leaves


async def test_batches_left_in_the_journal_are_written_by_the_next_log(
    file_engine: tuple[AsyncEngine, Path], signer: audit.CheckpointSigner
) -> None:
    engine, path = file_engine
    leaves = _journal_leaves(path, 0, 5)
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    await log.start()
    try:
        assert await log.size() == 5
        assert await log.root() == merkle.root_from_leaves(leaves)
        found = await log.subject_accesses(
            "3578010101900001", include_hidden=True, now=datetime.now(UTC)
        )
        assert len(found) == 5
        after = await log.append(lookup("after"))
        assert after.leaf_index == 5
    finally:
        await log.stop()
    assert not any(r.leaves for r in _chain(path))


_APPEND_THEN_DIE = """
import asyncio, json, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import create_async_engine
import audit
from audit import sqlite_writer
from tests.audit.conftest import BLIND_KEY, ORIGIN, lookup

async def main() -> None:
    sqlite_writer._FLUSH_AFTER = 3600.0  # nothing is written out before the end
    engine = create_async_engine(sys.argv[1])
    signer = audit.CheckpointSigner(ORIGIN, Ed25519PrivateKey.generate())
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=3600)
    await log.start()
    receipts = []
    for size in (1, 4, 2):
        batch = [log.append(lookup(f"c{len(receipts) + i}")) for i in range(size)]
        receipts += await asyncio.gather(*batch)
    print(json.dumps([[r.leaf_index, r.event_id] for r in receipts]), flush=True)
    os._exit(0)  # dies holding the journal: no write-out, no clean stop

asyncio.run(main())
"""


async def test_a_process_that_dies_after_acknowledging_loses_nothing(
    file_engine: tuple[AsyncEngine, Path], signer: audit.CheckpointSigner
) -> None:
    """A real process acknowledges batches and dies before their rows are written; the
    next log writes every acknowledged event at the index its receipt gave."""
    engine, path = file_engine
    done = subprocess.run(
        [sys.executable, "-c", _APPEND_THEN_DIE, f"sqlite+aiosqlite:///{path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    acknowledged = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(i for i, _ in acknowledged) == list(range(7))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 0
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    await log.start()
    try:
        assert await log.size() == 7
        with sqlite3.connect(path) as conn:
            stored = conn.execute("SELECT leaf_index, event_id, leaf FROM audit_events").fetchall()
        assert sorted([i, e] for i, e, _ in stored) == sorted(acknowledged)
        leaves = [leaf for _, _, leaf in sorted(stored)]
        assert await log.root() == merkle.root_from_leaves(leaves)
    finally:
        await log.stop()


async def test_a_torn_last_record_ends_the_chain(
    file_engine: tuple[AsyncEngine, Path], signer: audit.CheckpointSigner
) -> None:
    """A record cut short by the crash (its batch never acknowledged) is not written."""
    engine, path = file_engine
    leaves = _journal_leaves(path, 0, 5)  # records of 2, 2 and 1 events
    chain = _chain(path)
    last_end = sum(len(encode(r.first, r.leaves)) for r in chain)
    with open(path.with_name(path.name + "-commits"), "r+b") as fh:
        fh.seek(last_end - 3)
        fh.write(b"\xff\xff\xff")
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    await log.start()
    try:
        assert await log.size() == 4
        assert await log.root() == merkle.root_from_leaves(leaves[:4])
        assert (await log.append(lookup("next"))).leaf_index == 4
    finally:
        await log.stop()


async def test_a_journal_past_the_database_stops_the_log(
    file_engine: tuple[AsyncEngine, Path], signer: audit.CheckpointSigner
) -> None:
    """Journaled leaves that cannot follow the database's (its file replaced by an older
    copy, say) are not placed anywhere: reads and appends fail closed."""
    engine, path = file_engine
    _journal_leaves(path, 3, 2)
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    await log.start()
    try:
        with pytest.raises(audit.AuditUnavailable):
            await log.size()
        with pytest.raises(audit.AuditUnavailable):
            await log.append(lookup("refused"))
    finally:
        await log.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 0


def _chain(path: Path) -> list[Record]:
    """The journal's chain as another process reads it (no lock needed to read)."""
    reader = CommitJournal(path.with_name(path.name + "-commits"))
    try:
        return reader.read_chain()
    finally:
        reader.close()
