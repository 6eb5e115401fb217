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
from audit.sqlite_writer import database_file
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
