"""Reads and writes of the tree tables, inside a caller's connection or transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import merkle
from audit.errors import ProofError
from audit.events import PreparedEvent
from audit.schema import (
    PG_LOCK_KEY,
    checkpoints,
    event_subjects,
    events,
    node_key,
    tree_nodes,
)


@dataclass(frozen=True, slots=True)
class Frontier:
    """The hashes of the complete subtrees that make up a tree of ``size`` leaves."""

    size: int
    hashes: tuple[bytes, ...]


async def tree_size(conn: AsyncConnection) -> int:
    """The number of leaves committed (an index lookup: max of the primary key)."""
    last = (await conn.execute(select(func.max(events.c.leaf_index)))).scalar()
    return 0 if last is None else int(last) + 1


_READ_NODES = select(tree_nodes.c.node, tree_nodes.c.hash).where(
    tree_nodes.c.node.in_(bindparam("keys", expanding=True))
)


async def read_nodes(
    conn: AsyncConnection, ids: Iterable[merkle.NodeId]
) -> dict[merkle.NodeId, bytes]:
    """Fetch complete-subtree hashes by ``(level, idx)``; a missing one is corruption."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    keys = {node_key(level, idx): (level, idx) for level, idx in wanted}
    rows = await conn.execute(_READ_NODES, {"keys": list(keys)})
    found = {keys[int(r[0])]: bytes(r[1]) for r in rows}
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
    rows = batch_rows(old, batch)
    await conn.execute(insert(events), rows.events)
    if rows.subjects:
        await conn.execute(insert(event_subjects), rows.subjects)
    await conn.execute(insert(tree_nodes), rows.nodes)
    return rows.frontier


@dataclass(frozen=True, slots=True)
class BatchRows:
    """What appending a batch writes: its event, subject and node rows, and the tree after."""

    events: list[dict[str, object]]
    subjects: list[dict[str, object]]
    nodes: list[dict[str, object]]
    frontier: Frontier


def batch_rows(base: Frontier, batch: Sequence[PreparedEvent]) -> BatchRows:
    """The rows that append ``batch`` to the tree ``base``, with every new complete node."""
    size = base.size
    created, new = merkle.new_nodes(size, base.hashes, [merkle.leaf_hash(p.leaf) for p in batch])
    return BatchRows(
        events=[{"leaf_index": size + i, "leaf": p.leaf, **p.columns} for i, p in enumerate(batch)],
        subjects=[
            {"subject": s, "leaf_index": size + i} for i, p in enumerate(batch) for s in p.subjects
        ],
        nodes=[{"node": node_key(lv, ix), "hash": h} for lv, ix, h in created],
        frontier=Frontier(size + len(batch), tuple(new)),
    )


_APPEND_ARGS = (
    "expected", "event_ids", "times", "agencies", "officers", "client_ids", "purposes",
    "decisions", "actions", "hidden", "leaves", "subjects", "subject_leaves", "nodes", "hashes",
    "base_nodes", "base_hashes",
)  # fmt: skip
_APPEND_CALL = text(f"SELECT audit_append({', '.join(f':{a}' for a in _APPEND_ARGS)})")
_APPEND_NATIVE = f"SELECT audit_append({', '.join(f'${i + 1}' for i in range(len(_APPEND_ARGS)))})"

# What asyncpg raises when the connection, not the statement, failed: the socket, the
# client's own state (a backend that was terminated while idle leaves the protocol in a
# state where the next statement is refused before it is sent), class 08 (connection
# exception) and class 57 (operator intervention: a terminated backend, a shutdown).
_CONNECTION_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


_DRIVER_KEY = "satugate.audit.asyncpg"


async def _driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``conn``, looked up once per database connection.

    SQLAlchemy's lookup crosses its greenlet bridge on every call; the writer's kept
    connections need it once. The connection's ``info`` dictionary lives exactly as long
    as the database connection: it is cleared when one is invalidated.
    """
    driver: asyncpg.Connection | None = conn.info.get(_DRIVER_KEY)
    if driver is None:
        raw = await conn.get_raw_connection()
        driver = conn.info[_DRIVER_KEY] = raw.driver_connection
    return driver


class ConnectionLost(Exception):
    """The connection failed during a one-round-trip append; whether the batch was
    written is unknown to this side (the retry finds out: event ids are unique)."""


def _event_arrays(batch: Sequence[PreparedEvent]) -> list[list[Any]]:
    """The batch's event columns, one array each, as both append functions take them."""
    cols = [p.columns for p in batch]
    arrays: list[list[Any]] = [[c[name] for c in cols] for name in _EVENT_COLUMNS]
    arrays.append([p.leaf for p in batch])
    return arrays


_EVENT_COLUMNS = (
    "event_id", "time", "agency", "officer", "client_id", "purpose", "decision", "action",
    "hidden_until",
)  # fmt: skip


async def append_batch_fast(
    conn: AsyncConnection,
    batch: Sequence[PreparedEvent],
    base: Frontier,
    created: Sequence[tuple[int, int, bytes]],
) -> int:
    """PostgreSQL: append a batch in one statement, one round trip, its own transaction.

    ``created`` are the batch's new tree nodes, computed on the tree ``base`` (a size and
    its frontier, possibly predicted: the tree as batches still in flight will leave
    it). The ``audit_append`` function takes the append lock and writes only if the
    stored tree is exactly that: the same size and every frontier hash stored as given.
    Returns ``base.size`` when the batch was written. Otherwise nothing was written, and
    it returns the stored tree's size (another writer got there first, a batch before
    this one failed or has not landed yet), or -1 when the size matched but the
    frontier did not. Run it on an AUTOCOMMIT connection: the statement's implicit
    transaction commits durably before it returns. Raises :class:`ConnectionLost` when
    the connection failed under the statement.

    On asyncpg the statement goes to the driver's own connection, positional and
    prepared once per connection: SQLAlchemy's layers between cost more than the
    round trip itself.

    Security decision: the whole frontier is checked, not only the size or the last
    leaf. A batch built on a mistaken prediction would otherwise store nodes that
    contradict the leaves, and every later root and checkpoint would be wrong.
    """
    size = base.size
    subjects = [(s, size + i) for i, p in enumerate(batch) for s in p.subjects]
    args = (
        size,
        *_event_arrays(batch),
        [s for s, _ in subjects],
        [i for _, i in subjects],
        [node_key(lv, ix) for lv, ix, _ in created],
        [h for _, _, h in created],
        [node_key(lv, ix) for lv, ix in merkle.root_nodes(size)],
        list(base.hashes),
    )
    if conn.dialect.driver != "asyncpg":
        result = await conn.execute(_APPEND_CALL, dict(zip(_APPEND_ARGS, args, strict=True)))
        return int(result.scalar_one())
    driver = await _driver(conn)
    try:
        return int(await driver.fetchval(_APPEND_NATIVE, *args))
    except _CONNECTION_ERRORS as exc:
        raise ConnectionLost(type(exc).__name__) from None


_AT_END_ARGS = (
    "event_ids", "times", "agencies", "officers", "client_ids", "purposes", "decisions",
    "actions", "hidden", "leaves", "subjects", "subject_offsets",
)  # fmt: skip
# Built from the fixed argument names above only: placeholders, no data.
_AT_END_NAMED = ", ".join(f":{a}" for a in _AT_END_ARGS)
_AT_END_POSITIONAL = ", ".join(f"${i + 1}" for i in range(len(_AT_END_ARGS)))
_AT_END_CALL = text(f"SELECT first, frontier FROM audit_append_at_end({_AT_END_NAMED})")  # noqa: S608
_AT_END_NATIVE = f"SELECT first, frontier FROM audit_append_at_end({_AT_END_POSITIONAL})"  # noqa: S608


async def append_batch_at_end(conn: AsyncConnection, batch: Sequence[PreparedEvent]) -> Frontier:
    """PostgreSQL: append a batch at the end of the stored tree, whatever its size, in one
    statement and one round trip; returns the tree's new frontier.

    For a writer that does not know the stored tree: the ``audit_append_at_end`` function
    takes the append lock, reads the size and frontier, and computes the batch's nodes
    itself. Run it on an AUTOCOMMIT connection: its implicit transaction commits durably
    before it returns. Raises :class:`ConnectionLost` when the connection failed under the
    statement (whether the batch was written is then unknown).
    """
    args = (
        *_event_arrays(batch),
        [s for p in batch for s in p.subjects],
        [i for i, p in enumerate(batch) for _ in p.subjects],
    )
    if conn.dialect.driver != "asyncpg":
        row = (await conn.execute(_AT_END_CALL, dict(zip(_AT_END_ARGS, args, strict=True)))).one()
    else:
        driver = await _driver(conn)
        try:
            row = await driver.fetchrow(_AT_END_NATIVE, *args)
        except _CONNECTION_ERRORS as exc:
            raise ConnectionLost(type(exc).__name__) from None
    assert row is not None
    first, frontier = int(row[0]), tuple(bytes(h) for h in row[1])
    return Frontier(first + len(batch), frontier)


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


async def first_checkpoint(conn: AsyncConnection) -> StoredCheckpoint | None:
    row = (
        await conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size).limit(1))
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
