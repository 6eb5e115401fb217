"""SQLite appends through the one-hop writer: several writers, one tree; failures leave nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import audit
from audit import merkle, sqlite_writer
from audit.sqlite_writer import _chunks, database_file
from tests.audit.conftest import BLIND_KEY, lookup
from tests.audit.test_postgres_replicas import check_one_tree


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
async def file_log(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> AsyncIterator[tuple[audit.AuditLog, Path]]:
    """A running log on a SQLite file, and the file (to read it as another process)."""
    path = tmp_path / "audit.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    await audit.install_schema(engine)
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    await log.start()
    yield log, path
    await log.stop()
    await engine.dispose()


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
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 2
        leaves = conn.execute("SELECT count(*) FROM audit_tree_nodes WHERE node < 2").fetchone()
        assert leaves[0] == 2
    assert log.stats["failed_batches"] == 1


async def test_an_acknowledged_event_is_committed(file_log: tuple[audit.AuditLog, Path]) -> None:
    """When append returns, the event is committed: another connection sees it."""
    log, path = file_log
    receipt = await log.append(lookup("d"))
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT event_id FROM audit_events WHERE leaf_index = ?", (receipt.leaf_index,)
        ).fetchone()
    assert row == (receipt.event_id,)
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
    with sqlite3.connect(path) as conn:
        leaves = [r[0] for r in conn.execute("SELECT leaf FROM audit_events ORDER BY leaf_index")]
        subjects = conn.execute("SELECT count(*) FROM audit_event_subjects").fetchone()[0]
    assert merkle.root_from_leaves(leaves) == await log.root()
    assert subjects == 2 * total


async def test_the_wal_is_copied_back_off_the_commit_path(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """Commits leave the WAL to the checkpointer (up to the writer's own large limit);
    the checkpointer's PASSIVE checkpoint copies all of it while appends go on."""
    log, path = file_log
    appender = log._appender
    assert appender is not None
    await asyncio.gather(*(log.append(lookup(f"w{i}")) for i in range(200)))
    assert appender._conn is not None
    limit = appender._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert limit == 10_000
    concurrent = asyncio.gather(*(log.append(lookup(f"v{i}")) for i in range(50)))
    pages, copied = await appender.checkpoint_wal()
    assert pages > 0 and 0 <= copied <= pages
    assert len(await concurrent) == 50
    pages, copied = await appender.checkpoint_wal()
    assert copied == pages > 0, "with no reader in the way, the whole WAL is copied"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 250


async def test_a_commit_is_synced_before_its_caller_hears_of_it(
    file_log: tuple[audit.AuditLog, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer commits without syncing (``synchronous=NORMAL``), then syncs the WAL:
    by the time of the sync the batch is committed, and its caller is still waiting."""
    log, path = file_log
    seen: list[tuple[Path, int, bool]] = []
    task: asyncio.Task[audit.Receipt] | None = None
    real = sqlite_writer._fdatasync

    def syncing(wal: Path) -> None:
        with sqlite3.connect(path) as conn:
            committed = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        seen.append((wal, committed, task is not None and task.done()))
        real(wal)

    monkeypatch.setattr(sqlite_writer, "_fdatasync", syncing)
    task = asyncio.create_task(log.append(lookup("s")))
    receipt = await task
    assert seen == [(path.with_name(path.name + "-wal"), receipt.leaf_index + 1, False)]
    appender = log._appender
    assert appender is not None and appender._conn is not None
    assert appender._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


async def test_a_failed_fsync_stops_every_later_append(
    file_log: tuple[audit.AuditLog, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failed fsync the kernel may call later ones clean although pages were
    lost: the log fails closed for good instead of trusting them."""
    log, _path = file_log
    await log.append(lookup("before"))

    def failing(_wal: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sqlite_writer, "_fdatasync", failing)
    with pytest.raises(audit.AuditUnavailable):
        await log.append(lookup("lost"))
    monkeypatch.undo()
    with pytest.raises(audit.AuditUnavailable):
        await log.append(lookup("after"))
    assert log.stats["failed_batches"] == 2


async def test_a_batch_waits_for_another_writer_off_the_event_loop(
    file_log: tuple[audit.AuditLog, Path],
) -> None:
    """While another connection holds the write lock, the batch is written on the
    worker thread once the lock is free; the event loop keeps running meanwhile."""
    log, path = file_log
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        pending = asyncio.create_task(log.append(lookup("waits")))
        await asyncio.sleep(0.3)
        assert not pending.done(), "the batch cannot commit while the lock is held"
        assert ticks >= 10, "the loop was not blocked by the waiting batch"
        other.execute("COMMIT")
        receipt = await asyncio.wait_for(pending, 5)
    finally:
        ticking.cancel()
        other.close()
    assert receipt.leaf_index == 0
    after = await log.append(lookup("inline again"))
    assert after.leaf_index == 1
    assert log.stats["failed_batches"] == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 2
