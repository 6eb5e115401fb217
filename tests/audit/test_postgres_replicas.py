"""PostgreSQL in production: many writers, one tree; outages fail closed and heal."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit
import audit.drivers.postgres
from audit import merkle, store
from audit.events import PreparedEvent, prepare
from audit.schema import event_subjects, events, node_key, tree_nodes
from tests.audit.conftest import BLIND_KEY, asyncpg_url, lookup
from tests.audit.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(asyncpg_url(postgres_url))
    await audit.install_schema(engine)
    yield engine
    await engine.dispose()


async def check_one_tree(engine: AsyncEngine, log: audit.AuditLog, size: int) -> None:
    """Every index 0..size-1 once, the root recomputes, all checkpoints are consistent."""
    assert await log.size() == size
    async with engine.connect() as conn:
        rows = await store.read_leaves(conn, 0, size)
        stored = await store.all_checkpoints(conn, size)
    assert [i for i, _ in rows] == list(range(size))
    leaves = [leaf for _, leaf in rows]
    assert len({json.loads(leaf)["event_id"] for leaf in leaves}) == size
    reference = merkle.MemoryTree()
    for leaf in leaves:
        reference.append(leaf)
    assert reference.root() == await log.root()
    heads = [audit.verify_checkpoint(cp.note, log.signer.verifier_key()) for cp in stored]
    heads = [h for h in heads if h.size]
    assert len(heads) >= 2
    for head in heads:
        assert reference.root(head.size) == head.root_hash
    for older, newer in itertools.pairwise(heads):
        (await log.consistency_proof(older.size, newer.size)).verify(
            older.root_hash, newer.root_hash
        )


async def test_two_instances_on_two_engines_build_one_tree(
    pg_engine: AsyncEngine, postgres_url: str, signer: audit.CheckpointSigner
) -> None:
    other_engine = create_async_engine(asyncpg_url(postgres_url))
    logs = [
        audit.AuditLog(e, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=0.05)
        for e in (pg_engine, other_engine)
    ]
    try:
        for log in logs:
            await log.start()
        receipts = []
        for round_ in range(6):
            receipts += await asyncio.gather(
                *(
                    logs[i % 2].append(lookup(f"o{i}"))
                    for i in range(100 * round_, 100 * round_ + 100)
                )
            )
            await asyncio.sleep(0.06)
        assert sorted(r.leaf_index for r in receipts) == list(range(600))
        await logs[1].checkpoint()
        await check_one_tree(pg_engine, logs[0], 600)
    finally:
        for log in logs:
            await log.stop()
        await other_engine.dispose()


WORKER = """
import asyncio, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import create_async_engine
import audit
from tests.audit.conftest import BLIND_KEY, lookup

async def main(url, seed, n):
    engine = create_async_engine(url)
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
    log = audit.AuditLog(engine, signer=audit.CheckpointSigner("satugate.test/audit", key),
                         blind_key=BLIND_KEY, checkpoint_interval=0.05)
    async with log:
        for start in range(0, n, 50):
            await asyncio.gather(*(log.append(lookup(f"p{i}")) for i in range(start, start + 50)))
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def _repo_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


@pytest.mark.slow
async def test_separate_processes_build_one_tree(
    pg_engine: AsyncEngine, postgres_url: str, signing_key: object
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    seed = signing_key.private_bytes(  # type: ignore[attr-defined]
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    ).hex()
    url = asyncpg_url(postgres_url)
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, seed, "300"], cwd=_repo_root())
        for _ in range(2)
    ]
    for proc in procs:
        assert await asyncio.to_thread(proc.wait, 120) == 0
    signer = audit.CheckpointSigner("satugate.test/audit", signing_key)  # type: ignore[arg-type]
    log = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY)
    # The workers may finish within one checkpoint interval and sign one head between
    # them: one more event, and the head signed at stop, make a second one to prove
    # consistent with theirs.
    async with log:
        await log.append(lookup("after the workers"))
    await check_one_tree(pg_engine, log, 601)


async def test_outage_fails_closed_promptly_and_the_writer_heals(
    postgres_url: str, pg_engine: AsyncEngine, signer: audit.CheckpointSigner
) -> None:
    target = urlsplit(postgres_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = asyncpg_url(postgres_url).replace(f":{target.port}/", f":{proxy.port}/")
    engine = create_async_engine(proxied, connect_args={"timeout": 30})
    log = audit.AuditLog(
        engine, signer=signer, blind_key=BLIND_KEY, commit_timeout=1.0, read_timeout=1.0
    )
    try:
        await log.start()
        before = await asyncio.gather(*(log.append(lookup()) for _ in range(20)))
        for outage in (proxy.cut, proxy.stall):
            outage()
            async with asyncio.timeout(10):  # bounded: the caller hears back, no hang
                results = await asyncio.gather(
                    *(log.append(lookup("during-outage")) for _ in range(10)),
                    return_exceptions=True,
                )
            assert all(isinstance(r, audit.AuditUnavailable) for r in results), results
            async with asyncio.timeout(10):
                with pytest.raises(audit.AuditUnavailable):
                    await log.inclusion_proof(0, 20)
            proxy.restore()
            after = await log.append(lookup("after"))
            assert after.leaf_index >= 20
        await check_gapless(pg_engine, log, before[0].leaf_index)
    finally:
        await log.stop()
        await engine.dispose()
        await proxy.close()


async def check_gapless(engine: AsyncEngine, log: audit.AuditLog, first: int) -> None:
    size = await log.size()
    async with engine.connect() as conn:
        indexes = [i for i, _ in await store.read_leaves(conn, 0, size)]
    assert indexes == list(range(first, size))
    leaves = [await log.leaf(i) for i in range(size)]
    assert merkle.root_from_leaves(leaves) == await log.root()


async def test_a_predicted_tree_is_written_only_if_it_is_the_real_one(
    pg_engine: AsyncEngine, signer: audit.CheckpointSigner
) -> None:
    """A batch whose nodes were computed for a tree that never came to be must not be
    written, even when the stored tree has the predicted size and the predicted last
    leaf: here the batch before it failed, another writer filled four of its places,
    and its last event was then written after them (as a retry would)."""
    from audit.events import prepare

    log = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY)
    async with log:
        await asyncio.gather(*(log.append(lookup()) for _ in range(5)))
    async with pg_engine.connect() as conn:
        real = await store.frontier(conn, 5)

    # What this process predicted: five more events of a batch that did not commit.
    lost = [prepare(lookup("lost"), []) for _ in range(5)]
    _, predicted_nodes = merkle.new_nodes(5, real.hashes, [merkle.leaf_hash(p.leaf) for p in lost])
    predicted = store.Frontier(10, tuple(predicted_nodes))
    # Meanwhile another writer takes places 5-8, and the lost batch's last event lands at 9.
    others = [prepare(lookup("other"), []) for _ in range(4)]
    async with pg_engine.begin() as conn:
        await store.lock_for_append(conn)
        await store.append_batch(conn, [*others, lost[-1]], None)

    batch = [prepare(lookup("next"), []) for _ in range(3)]
    created, _ = merkle.new_nodes(
        predicted.size, predicted.hashes, [merkle.leaf_hash(p.leaf) for p in batch]
    )
    async with pg_engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        stored = await store.append_batch_fast(conn, batch, predicted, created)
    assert stored == -1  # nothing written: the size matched, the frontier did not
    async with pg_engine.connect() as conn:
        assert await store.tree_size(conn) == 10
        actual = await store.frontier(conn, 10)
        last = await store.read_nodes(conn, [(0, 9)])
    assert last[0, 9] == merkle.leaf_hash(lost[-1].leaf)  # same size, same last leaf ...
    assert actual.hashes != predicted.hashes  # ... and yet another tree
    # with the real tree as base, the same batch goes in
    created, _ = merkle.new_nodes(10, actual.hashes, [merkle.leaf_hash(p.leaf) for p in batch])
    async with pg_engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert await store.append_batch_fast(conn, batch, actual, created) == 10
    await check_one_tree_quick(pg_engine, 13)


async def check_one_tree_quick(engine: AsyncEngine, size: int) -> None:
    async with engine.connect() as conn:
        leaves = [leaf for _, leaf in await store.read_leaves(conn, 0, size)]
        assert await store.tree_size(conn) == size
        assert await store.root_hash(conn, size) == merkle.root_from_leaves(leaves)


async def append_fast(engine: AsyncEngine, batch: list[PreparedEvent], base: store.Frontier) -> int:
    """One-round-trip append of ``batch`` with the nodes it adds to the tree ``base``,
    on an AUTOCOMMIT connection as the writer runs it."""
    created, _ = merkle.new_nodes(base.size, base.hashes, [merkle.leaf_hash(p.leaf) for p in batch])
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await store.append_batch_fast(conn, batch, base, created)


async def row_counts(engine: AsyncEngine) -> list[int]:
    """Rows in the events, subjects and nodes tables."""
    async with engine.connect() as conn:
        return [
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (events, event_subjects, tree_nodes)
        ]


def numbered_batch(first: int, subjects_per_event: list[int]) -> list[PreparedEvent]:
    """Events ``first``, ``first + 1``, ... with the given number of subjects each."""
    return [
        prepare(lookup(f"o{first + i}"), [f"subject-{first + i}-{k}" for k in range(count)])
        for i, count in enumerate(subjects_per_event)
    ]


async def test_batches_with_many_subjects_are_written_whole_from_the_empty_tree(
    pg_engine: AsyncEngine,
) -> None:
    """The first batch extends the empty tree (size 0, no frontier); every event, every
    subject of every event and every new node of a batch is written."""
    first = numbered_batch(0, [2, 0, 3])
    assert await append_fast(pg_engine, first, store.Frontier(0, ())) == 0
    async with pg_engine.connect() as conn:
        after_first = await store.frontier(conn, 3)
    second = numbered_batch(3, [1, 4])
    assert await append_fast(pg_engine, second, after_first) == 3

    nodes = len(merkle.new_nodes(0, [], [merkle.leaf_hash(p.leaf) for p in first + second])[0])
    assert await row_counts(pg_engine) == [5, 10, nodes]
    async with pg_engine.connect() as conn:
        rows = await conn.execute(select(event_subjects))
        stored = {(r.subject, r.leaf_index) for r in rows}
    assert stored == {(s, i) for i, p in enumerate(first + second) for s in p.subjects}
    await check_one_tree_quick(pg_engine, 5)


async def append_at_end(engine: AsyncEngine, batch: list[PreparedEvent]) -> store.Frontier:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await store.append_batch_at_end(conn, batch)


async def test_the_database_computes_the_same_tree_as_the_writer(pg_engine: AsyncEngine) -> None:
    """Batches appended where the database computes the nodes, from the empty tree and
    then at sizes with frontiers of every length, give exactly the nodes and frontier that
    ``merkle.new_nodes`` gives, also interleaved with batches the writer computed itself."""
    written: list[PreparedEvent] = []
    frontier_lengths = set()
    for round_, shape in enumerate([[1], [2, 0], [1] * 5, [0] * 7, [3], [1] * 16, [1] * 9]):
        size = len(written)
        batch = numbered_batch(size, shape)
        if round_ % 3 == 2:  # every third batch predicted by the writer, as the log does
            async with pg_engine.connect() as conn:
                base = await store.frontier(conn, size)
            assert await append_fast(pg_engine, batch, base) == size
        else:
            new = await append_at_end(pg_engine, batch)
            async with pg_engine.connect() as conn:
                assert new == await store.frontier(conn, size + len(batch))
        written += batch
        created, expected = merkle.new_nodes(0, [], [merkle.leaf_hash(p.leaf) for p in written])
        async with pg_engine.connect() as conn:
            assert list((await store.frontier(conn, len(written))).hashes) == expected
            stored_nodes = {
                int(r.node): bytes(r.hash) for r in await conn.execute(select(tree_nodes))
            }
        assert stored_nodes == {node_key(lv, ix): h for lv, ix, h in created}
        frontier_lengths.add(len(expected))
    assert frontier_lengths >= {1, 2, 3}
    subjects = {(s, i) for i, p in enumerate(written) for s in p.subjects}
    assert await row_counts(pg_engine) == [len(written), len(subjects), len(stored_nodes)]
    async with pg_engine.connect() as conn:
        assert {(r.subject, r.leaf_index) for r in await conn.execute(select(event_subjects))} == (
            subjects
        )
    await check_one_tree_quick(pg_engine, len(written))


async def test_the_database_refuses_to_place_a_batch_on_a_tree_with_missing_nodes(
    pg_engine: AsyncEngine,
) -> None:
    """A node table that lost a frontier node (altered behind the log's back) cannot
    give the new nodes: the database refuses the batch and writes nothing (fail closed)
    rather than build on a tree it cannot compute."""
    import asyncpg
    from sqlalchemy import text

    await append_at_end(pg_engine, numbered_batch(0, [1] * 6))  # frontier: (2, 0), (1, 2)
    async with pg_engine.begin() as conn:
        # Only a superuser can do this: switch the append-only triggers off for a moment.
        await conn.execute(text("ALTER TABLE audit_tree_nodes DISABLE TRIGGER USER"))
        await conn.execute(
            text("DELETE FROM audit_tree_nodes WHERE node = :n"), {"n": node_key(1, 2)}
        )
        await conn.execute(text("ALTER TABLE audit_tree_nodes ENABLE TRIGGER USER"))
    before = await row_counts(pg_engine)
    with pytest.raises(asyncpg.PostgresError, match="missing frontier nodes"):
        await append_at_end(pg_engine, numbered_batch(6, [1, 1]))
    assert await row_counts(pg_engine) == before


async def test_once_another_writer_appends_the_database_places_every_batch_for_a_while(
    pg_engine: AsyncEngine, signer: audit.CheckpointSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that finds another's events under its prediction stops predicting (each
    guess would fail again, a wasted round trip) and lets the database place its batches,
    one round trip each; after a quiet while it predicts again."""
    monkeypatch.setattr(audit.drivers.postgres, "CONTENDED_SECONDS", 0.5)
    mine = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=60)
    other = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=60)
    async with mine, other:
        for i in range(3):
            await mine.append(lookup(f"m{i}"))
        assert mine.stats["one_round_trip"] == 2  # the first batch taught it the tree
        await other.append(lookup("o0"))  # behind its back
        before = mine.stats
        for i in range(3, 8):
            await mine.append(lookup(f"m{i}"))
        after = mine.stats
        assert after["mispredicted"] - before["mispredicted"] == 1
        assert after["placed_by_database"] - before["placed_by_database"] == 5
        assert after["one_round_trip"] == before["one_round_trip"]
        await asyncio.sleep(0.6)
        for i in range(8, 11):
            await mine.append(lookup(f"m{i}"))
        assert mine.stats["one_round_trip"] - after["one_round_trip"] == 3
        assert mine.stats["mispredicted"] == after["mispredicted"]
    await check_one_tree_quick(pg_engine, 12)


async def test_a_batch_on_another_size_writes_nothing_and_returns_the_stored_size(
    pg_engine: AsyncEngine,
) -> None:
    """Behind the stored tree (another writer appended) or ahead of it (the batch before
    has not landed): nothing is written, and the caller learns the stored size."""
    assert await append_fast(pg_engine, numbered_batch(0, [1] * 5), store.Frontier(0, ())) == 0
    async with pg_engine.connect() as conn:
        behind = await store.frontier(conn, 3)
        stored = await store.frontier(conn, 5)
    missing = numbered_batch(5, [1, 1])
    _, ahead_hashes = merkle.new_nodes(
        5, stored.hashes, [merkle.leaf_hash(p.leaf) for p in missing]
    )
    ahead = store.Frontier(7, tuple(ahead_hashes))
    before = await row_counts(pg_engine)
    for base in (behind, ahead):
        assert await append_fast(pg_engine, numbered_batch(10, [2, 1]), base) == 5
    assert await row_counts(pg_engine) == before


@pytest.mark.parametrize("wrong", [0, -1], ids=["first frontier hash", "last frontier hash"])
async def test_a_batch_on_the_stored_size_but_another_frontier_writes_nothing(
    pg_engine: AsyncEngine, wrong: int
) -> None:
    """Every frontier hash is compared, not only one end of the frontier."""
    assert await append_fast(pg_engine, numbered_batch(0, [1] * 7), store.Frontier(0, ())) == 0
    async with pg_engine.connect() as conn:
        real = await store.frontier(conn, 7)
    assert len(real.hashes) == 3  # subtrees of 4, 2 and 1 leaves
    hashes = list(real.hashes)
    hashes[wrong] = bytes(32)
    before = await row_counts(pg_engine)
    batch = numbered_batch(7, [2, 1])
    assert await append_fast(pg_engine, batch, store.Frontier(7, tuple(hashes))) == -1
    assert await row_counts(pg_engine) == before
    # on the real frontier the same batch goes in
    assert await append_fast(pg_engine, batch, real) == 7
    await check_one_tree_quick(pg_engine, 9)


async def test_a_failed_batch_in_the_pipeline_costs_only_its_own_events(
    pg_engine: AsyncEngine, signer: audit.CheckpointSigner
) -> None:
    """Batches go out back to back, each computed on the tree its predecessor leaves.
    When one fails, the next (predicted on it) writes nothing and is placed by the
    database: only the failed batch's callers get an error, and the tree has no gap."""
    log = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY)
    async with log:
        first = await log.append(lookup("seed"))  # the writer learns the tree
        await log.checkpoint()
        events = [lookup(f"q{i}") for i in range(400)]
        events[150] = {**events[150], "event_id": first.event_id}  # a unique violation
        results = await asyncio.gather(*(log.append(e) for e in events), return_exceptions=True)
        before = log.stats
        after = await asyncio.gather(*(log.append(lookup(f"r{i}")) for i in range(200)))
        await log.checkpoint()
    failed = [r for r in results if isinstance(r, BaseException)]
    receipts = [r for r in results if not isinstance(r, BaseException)] + after
    assert failed and all(isinstance(f, audit.AuditUnavailable) for f in failed)
    assert len(failed) < 400
    assert before["failed_batches"] == 1
    # the batch behind the failed one was placed by the database ...
    assert before["placed_by_database"] >= 2
    # ... and the pipeline resumed afterwards
    assert log.stats["one_round_trip"] > before["one_round_trip"]
    size = 1 + len(receipts)
    assert sorted(r.leaf_index for r in receipts) == list(range(1, size))
    await check_one_tree(pg_engine, log, size)


async def test_the_writer_keeps_its_connections_and_replaces_a_dead_one(
    pg_engine: AsyncEngine, signer: audit.CheckpointSigner
) -> None:
    """One-round-trip batches reuse the writer's connections; when the server drops one,
    the batch on it is still written (placed by the database) and the dead connection
    is never used again."""
    from sqlalchemy import text

    log = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=60)
    writer = log._writer
    assert isinstance(writer, audit.drivers.PostgresWriter)
    await log.start()
    try:
        first = await log.append(lookup("k0"))
        for i in range(1, 6):
            await log.append(lookup(f"k{i}"))
        assert log.stats["one_round_trip"] == 5
        assert len(writer.idle_connections) == 1, "batches in turn share one kept connection"

        async def server_pids() -> set[int]:
            pids = set()
            for conn in writer.idle_connections:
                raw = await conn.get_raw_connection()
                pids.add(raw.driver_connection.get_server_pid())  # type: ignore[union-attr]
            return pids

        dead = await server_pids()
        async with pg_engine.connect() as admin:
            for pid in dead:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        after = await log.append(lookup("after"))
        assert after.leaf_index == first.leaf_index + 6
        assert (await log.append(lookup("again"))).leaf_index == first.leaf_index + 7
        assert log.stats["failed_batches"] == 0
        assert writer.idle_connections and not (await server_pids()) & dead
    finally:
        await log.stop()
    assert not writer.idle_connections, "stop closes the kept connections"
    await check_one_tree_quick(pg_engine, first.leaf_index + 8)


async def test_the_driver_connection_is_looked_up_once_per_database_connection(
    pg_engine: AsyncEngine,
) -> None:
    """The append's asyncpg connection is kept with the database connection it belongs
    to, and forgotten with it: an invalidated connection's successor has its own."""
    from sqlalchemy import text

    async with pg_engine.connect() as conn:
        raw = await conn.get_raw_connection()
        first = await store._driver(conn)
        assert first is raw.driver_connection
        assert conn.info[store._DRIVER_KEY] is first
        assert await store._driver(conn) is first
        await conn.invalidate()
    assert first.is_closed()
    async with pg_engine.connect() as conn:
        fresh = await store._driver(conn)
        assert fresh is not first and not fresh.is_closed()
        assert (await conn.scalar(text("SELECT pg_backend_pid()"))) == fresh.get_server_pid()


async def test_a_second_batch_goes_out_only_behind_a_backlog(
    pg_engine: AsyncEngine, signer: audit.CheckpointSigner
) -> None:
    """A few events waiting go in one batch; a backlog goes in two, both in flight. A
    second batch would wait for the first at the database's append lock anyway."""
    log = audit.AuditLog(pg_engine, signer=signer, blind_key=BLIND_KEY)
    async with log:
        await log.append(lookup("teaches the writer the tree"))

        async def together(n: int) -> int:
            before = log.stats["batches"]
            await asyncio.gather(*(log.append(lookup(f"e{i}")) for i in range(n)))
            return log.stats["batches"] - before

        assert await together(3) == 1
        assert await together(7) == 1
        assert await together(20) == 2
        assert log.stats["one_round_trip"] == log.stats["batches"] - 1
        assert await log.size() == 31
