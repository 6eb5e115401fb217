"""The log on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
from pathlib import Path

import pytest
import rfc8785
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit
from audit import merkle, store
from audit.schema import APPEND_ONLY_TABLES
from tests.audit.conftest import BLIND_KEY, lookup

NIK = "3578084101900001"  # synthetic


async def test_install_schema_is_idempotent(engine: AsyncEngine) -> None:
    await audit.install_schema(engine)
    await audit.install_schema(engine)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert set(audit.metadata.tables) <= names


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
async def test_database_refuses_update_and_delete(
    engine: AsyncEngine, log: audit.AuditLog, table: str
) -> None:
    for i in range(3):
        await log.append(lookup(f"o{i}"), subject_niks=[NIK])
    await log.checkpoint()
    async with engine.connect() as conn:
        before = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
    assert before
    column = {
        "audit_events": "agency = 'forged'",
        "audit_event_subjects": "subject = 'forged'",
        "audit_tree_nodes": "hash = hash",
        "audit_checkpoints": "note = 'forged'",
    }[table]
    statements = [f"UPDATE {table} SET {column}", f"DELETE FROM {table}"]
    if engine.dialect.name == "postgresql":
        statements.append(f"TRUNCATE {table}")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    async with engine.connect() as conn:
        after = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
    assert after == before


async def test_concurrent_appends_get_contiguous_indexes_and_the_root_matches(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    receipts = await asyncio.gather(*(log.append(lookup(f"o{i % 7}")) for i in range(600)))
    assert sorted(r.leaf_index for r in receipts) == list(range(600))
    assert len({r.event_id for r in receipts}) == 600
    checkpoint = audit.verify_checkpoint(await log.checkpoint(), log.signer.verifier_key())
    assert checkpoint.size == await log.size() == 600
    async with engine.connect() as conn:
        leaves = [leaf for _, leaf in await store.read_leaves(conn, 0, 600)]
    assert await log.leaf(599) == leaves[599]
    assert merkle.root_from_leaves(leaves) == checkpoint.root_hash == await log.root()
    for receipt in random.sample(receipts, 20):
        assert json.loads(leaves[receipt.leaf_index])["event_id"] == receipt.event_id


async def test_concurrent_requests_share_transactions(
    engine: AsyncEngine, signer: audit.CheckpointSigner
) -> None:
    batches: list[int] = []
    log = audit.AuditLog(
        engine, signer=signer, blind_key=BLIND_KEY, on_commit=lambda n, _s: batches.append(n)
    )
    async with log:
        await asyncio.gather(*(log.append(lookup()) for _ in range(300)))
    assert sum(batches) == 300
    assert len(batches) < 300 / 4  # group commit: far fewer transactions than events


async def test_leaf_is_canonical_json_and_stores_no_clear_nik(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    receipt = await log.append(lookup(), subject_niks=[NIK, NIK])
    leaf = await log.leaf(receipt.leaf_index)
    event = json.loads(leaf)
    assert rfc8785.dumps(event) == leaf
    # Under the agency's own blind-index key, derived from the audit key.
    agency_key = hmac.new(BLIND_KEY, b"satugate/audit/agency\x00dinsos", hashlib.sha256).digest()
    blind = hmac.new(agency_key, NIK.encode(), hashlib.sha256).hexdigest()
    assert event["subjects"] == [blind] == [log.blind_index(NIK, "dinsos")]
    assert blind != log.blind_index(NIK) != log.blind_index(NIK, "dinkes")
    assert event["event_id"] == receipt.event_id
    assert event["time"].endswith("Z") and len(event["time"]) == 24
    async with engine.connect() as conn:
        for table in audit.metadata.sorted_tables:
            for row in await conn.execute(table.select()):
                assert NIK not in repr(tuple(row))


async def test_events_are_validated(log: audit.AuditLog) -> None:
    with pytest.raises(ValueError, match="action"):
        await log.append(lookup(action="resident.delete"))
    with pytest.raises(ValueError, match="NIK"):
        await log.append(lookup(nik=NIK))
    with pytest.raises(ValueError, match="time zone"):
        await log.append(lookup(time="2026-01-01T10:00:00"))
    assert await log.size() == 0


async def test_proofs_from_storage_equal_the_reference_and_verify(log: audit.AuditLog) -> None:
    reference = merkle.MemoryTree()
    for chunk in (1, 2, 5, 13, 40, 3, 66):
        receipts = await asyncio.gather(*(log.append(lookup(f"o{i}")) for i in range(chunk)))
        for r in sorted(receipts, key=lambda r: r.leaf_index):
            reference.append(await log.leaf(r.leaf_index))
    size = reference.size
    rng = random.Random(7)
    for _ in range(40):
        n = rng.randint(1, size)
        i = rng.randrange(n)
        proof = await log.inclusion_proof(i, n)
        assert list(proof.audit_path) == reference.inclusion_proof(i, n)
        assert proof.leaf_hash == merkle.leaf_hash(await log.leaf(i))
        proof.verify(reference.root(n))
        assert await log.root(n) == reference.root(n)
        m = rng.randint(1, n)
        consistency = await log.consistency_proof(m, n)
        assert list(consistency.proof) == reference.consistency_proof(m, n)
        consistency.verify(reference.root(m), reference.root(n))
    assert proof.to_dict()["leaf_index"] == i
    assert set(consistency.to_dict()) == {"first", "second", "proof"}


async def test_impossible_proofs_are_refused(log: audit.AuditLog) -> None:
    await asyncio.gather(*(log.append(lookup()) for _ in range(5)))
    for i, n in ((5, 5), (0, 6), (-1, 3), (0, 0)):
        with pytest.raises(audit.ProofError):
            await log.inclusion_proof(i, n)
    for a, b in ((0, 3), (4, 3), (2, 9)):
        with pytest.raises(audit.ProofError):
            await log.consistency_proof(a, b)
    with pytest.raises(IndexError):
        await log.leaf(5)


async def test_checkpointer_signs_while_the_log_grows(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    sizes = []
    for _ in range(3):
        await asyncio.gather(*(log.append(lookup()) for _ in range(10)))
        size = await log.size()
        for _ in range(100):  # the background task signs within its interval (0.2 s)
            async with engine.connect() as conn:
                latest = await store.latest_checkpoint(conn)
            if latest is not None and latest.tree_size == size:
                break
            await asyncio.sleep(0.05)
        assert latest is not None and latest.tree_size == size
        sizes.append(size)
    async with engine.connect() as conn:
        stored = await store.all_checkpoints(conn, 10**9)
    assert [cp.tree_size for cp in stored if cp.tree_size in sizes] == sizes
    key = log.signer.verifier_key()
    heads = [audit.verify_checkpoint(cp.note, key) for cp in stored if cp.tree_size]
    for older, newer in itertools.pairwise(heads):
        proof = await log.consistency_proof(older.size, newer.size)
        proof.verify(older.root_hash, newer.root_hash)


async def test_append_after_stop_is_refused(log: audit.AuditLog) -> None:
    await log.stop()
    with pytest.raises(audit.AuditUnavailable):
        await log.append(lookup())


async def test_stop_commits_what_was_queued(log: audit.AuditLog) -> None:
    tasks = [asyncio.ensure_future(log.append(lookup())) for _ in range(50)]
    await asyncio.sleep(0)
    await log.stop()
    receipts = await asyncio.gather(*tasks)
    assert sorted(r.leaf_index for r in receipts) == list(range(50))


async def test_writer_statistics(engine: AsyncEngine, log: audit.AuditLog) -> None:
    for _ in range(4):
        await asyncio.gather(*(log.append(lookup()) for _ in range(25)))
    stats = log.stats
    assert stats["events"] == 100 and stats["failed_batches"] == 0
    ways = stats["one_round_trip"] + stats["placed_by_database"] + stats["locked_transaction"]
    assert ways == stats["batches"]
    if engine.dialect.name == "postgresql":
        # A lone writer keeps its view of the tree: after the first batch (placed by the
        # database, which the writer did not know yet), batches are predicted, except
        # where two of its own batches in flight reached the database in the wrong order
        # (the second then writes nothing and is placed by the database).
        assert stats["placed_by_database"] == 1 + stats["mispredicted"]
        assert stats["one_round_trip"] >= 1 and stats["locked_transaction"] == 0
    else:
        assert stats["one_round_trip"] == stats["placed_by_database"] == 0


async def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    """WAL with synchronous=FULL: a commit is on disk when append returns."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}")
    await audit.install_schema(engine)
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    await engine.dispose()


async def test_a_signer_for_another_origin_is_refused(
    engine: AsyncEngine, log: audit.AuditLog, signing_key: object
) -> None:
    await log.append(lookup())
    await log.checkpoint()
    assert await audit.log_origin(engine) == log.signer.origin
    stranger = audit.AuditLog(
        engine,
        signer=audit.CheckpointSigner("other.example/audit", signing_key),  # type: ignore[arg-type]
        blind_key=BLIND_KEY,
    )
    async with stranger:
        await stranger.append(lookup())  # the event is still evidence: it is logged
        with pytest.raises(audit.ProofError, match="origin"):
            await stranger.checkpoint()
    note = await log.checkpoint()
    assert audit.verify_checkpoint(note, log.signer.verifier_key()).size == 2
