"""Reads and writes of the tree tables, inside a caller's connection or transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import merkle
from audit.errors import ProofError
from audit.events import PreparedEvent
from audit.schema import PG_LOCK_KEY, checkpoints, event_subjects, events, tree_nodes


@dataclass(frozen=True, slots=True)
class Frontier:
    """The hashes of the complete subtrees that make up a tree of ``size`` leaves."""

    size: int
    hashes: tuple[bytes, ...]


async def tree_size(conn: AsyncConnection) -> int:
    """The number of leaves committed (an index lookup: max of the primary key)."""
    last = (await conn.execute(select(func.max(events.c.leaf_index)))).scalar()
    return 0 if last is None else int(last) + 1


async def read_nodes(
    conn: AsyncConnection, ids: Iterable[merkle.NodeId]
) -> dict[merkle.NodeId, bytes]:
    """Fetch complete-subtree hashes by ``(level, idx)``; a missing one is corruption."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    stmt = select(tree_nodes.c.level, tree_nodes.c.idx, tree_nodes.c.hash).where(
        tuple_(tree_nodes.c.level, tree_nodes.c.idx).in_(wanted)
    )
    found = {(int(r[0]), int(r[1])): bytes(r[2]) for r in await conn.execute(stmt)}
    if len(found) != len(wanted):
        raise ProofError("the tree's node table is missing nodes")
    return found


async def frontier(conn: AsyncConnection, size: int) -> Frontier:
    nodes = merkle.root_nodes(size)
    found = await read_nodes(conn, nodes)
    return Frontier(size, tuple(found[n] for n in nodes))


async def root_hash(conn: AsyncConnection, size: int) -> bytes:
    """The root of the tree's first ``size`` leaves, from O(log n) stored nodes."""
    return merkle.root_from_frontier((await frontier(conn, size)).hashes)


async def range_hashes(conn: AsyncConnection, ranges: Sequence[merkle.Range]) -> list[bytes]:
    found = await read_nodes(conn, merkle.nodes_for(ranges))
    return merkle.hashes_for(ranges, found.__getitem__)


async def lock_for_append(conn: AsyncConnection) -> None:
    """Serialise appenders across processes (PostgreSQL; SQLite uses BEGIN IMMEDIATE).

    Security decision: leaf positions come from the database under this lock, inside the
    transaction that writes the leaves, so replicas can never fork the tree or leave a
    gap; the primary key on ``leaf_index`` backs this up if the lock were ever missing.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})


async def append_batch(
    conn: AsyncConnection, batch: Sequence[PreparedEvent], cached: Frontier | None
) -> Frontier:
    """Write a batch of events at the end of the tree, with every new complete node.

    Must run inside a transaction that :func:`lock_for_append` (or ``BEGIN IMMEDIATE``)
    holds. ``cached`` is the frontier this process saw after its last commit; it is only
    trusted when the database says the tree still has that size. Returns the new frontier;
    the batch's first leaf index is the old frontier's size.
    """
    size = await tree_size(conn)
    old = cached if cached is not None and cached.size == size else await frontier(conn, size)
    hashes = [merkle.leaf_hash(p.leaf) for p in batch]
    created, new = merkle.new_nodes(size, old.hashes, hashes)
    await conn.execute(
        insert(events),
        [{"leaf_index": size + i, "leaf": p.leaf, **p.columns} for i, p in enumerate(batch)],
    )
    subject_rows = [
        {"subject": s, "leaf_index": size + i} for i, p in enumerate(batch) for s in p.subjects
    ]
    if subject_rows:
        await conn.execute(insert(event_subjects), subject_rows)
    await conn.execute(
        insert(tree_nodes), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in created]
    )
    return Frontier(size + len(batch), tuple(new))


async def read_leaves(conn: AsyncConnection, start: int, end: int) -> list[tuple[int, bytes]]:
    stmt = (
        select(events.c.leaf_index, events.c.leaf)
        .where(events.c.leaf_index >= start, events.c.leaf_index < end)
        .order_by(events.c.leaf_index)
    )
    return [(int(r[0]), bytes(r[1])) for r in await conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str
    created_at: str


async def latest_checkpoint(conn: AsyncConnection) -> StoredCheckpoint | None:
    row = (
        await conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1))
    ).first()
    if row is None:
        return None
    return StoredCheckpoint(int(row.tree_size), bytes(row.root_hash), row.note, row.created_at)


async def all_checkpoints(conn: AsyncConnection, upto: int) -> list[StoredCheckpoint]:
    rows = await conn.execute(
        select(checkpoints).where(checkpoints.c.tree_size <= upto).order_by(checkpoints.c.tree_size)
    )
    return [
        StoredCheckpoint(int(r.tree_size), bytes(r.root_hash), r.note, r.created_at) for r in rows
    ]


async def insert_checkpoint(conn: AsyncConnection, cp: StoredCheckpoint) -> None:
    """Store a checkpoint; a concurrent signer may have stored the same size first."""
    values = {
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash,
        "note": cp.note,
        "created_at": cp.created_at,
    }
    if conn.dialect.name == "postgresql":
        await conn.execute(postgresql.insert(checkpoints).values(values).on_conflict_do_nothing())
    else:
        await conn.execute(sqlite.insert(checkpoints).values(values).on_conflict_do_nothing())
