"""The audit tables, the triggers that make them append-only, and SQLite settings.

Tables (all prefixed ``audit_``):

* ``audit_events``: one row per leaf: the exact leaf bytes and the searchable columns.
* ``audit_event_subjects``: keyed blind index of each NIK an event touched -> leaf index.
* ``audit_tree_nodes``: every complete subtree hash, keyed by one integer that packs
  ``(level, index)`` (see :func:`node_key`; at level 0 it is the leaf index itself); proofs
  and roots read O(log n) of these rows by primary key, never scan.
* ``audit_checkpoints``: signed tree heads, one per tree size.
* ``audit_flagged_subjects`` and ``audit_officer_family``: inputs of the snooping flags.

Security decision: the first four tables are append-only, and the database itself refuses
UPDATE, DELETE (and on PostgreSQL TRUNCATE) on them, so that neither a bug nor a stolen
service credential can rewrite evidence quietly. A rewrite that goes around the triggers
(a superuser, a file edit) still breaks the signed Merkle roots.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

metadata = MetaData()

# On SQLite an INTEGER PRIMARY KEY is the rowid itself: the fastest table layout there.
LeafIndex = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "audit_events",
    metadata,
    Column("leaf_index", LeafIndex, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("time", String(32), nullable=False),
    Column("agency", String(128)),
    Column("officer", String(256)),
    Column("client_id", String(256)),
    Column("purpose", String(64)),
    Column("decision", String(16)),
    Column("action", String(64), nullable=False),
    Column("hidden_until", String(32)),
    Column("leaf", LargeBinary, nullable=False),
    Index("ix_audit_events_agency", "agency"),
    Index("ix_audit_events_officer", "officer"),
    Index("ix_audit_events_purpose", "purpose"),
    Index("ix_audit_events_decision", "decision"),
    Index("ix_audit_events_action", "action"),
    Index("ix_audit_events_time", "time"),
)

event_subjects = Table(
    "audit_event_subjects",
    metadata,
    Column("subject", String(64), nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    PrimaryKeyConstraint("subject", "leaf_index", name="pk_audit_event_subjects"),
)

tree_nodes = Table(
    "audit_tree_nodes",
    metadata,
    Column("node", LeafIndex, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

NODE_LEVEL_SHIFT = 56


def node_key(level: int, index: int) -> int:
    """The primary key of the complete subtree ``(level, index)``: ``level << 56 | index``.

    One integer key makes every proof a single ``IN`` lookup on the primary key, which
    both SQLite (a rowid table) and PostgreSQL answer with index probes.
    """
    return level << NODE_LEVEL_SHIFT | index


checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

flagged_subjects = Table(
    "audit_flagged_subjects",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("reason", String(256), nullable=False),
    Column("flagged_at", String(32), nullable=False),
)

officer_family = Table(
    "audit_officer_family",
    metadata,
    Column("agency", String(128), nullable=False),
    Column("officer", String(256), nullable=False),
    Column("subject", String(64), nullable=False),
    PrimaryKeyConstraint("agency", "officer", "subject", name="pk_audit_officer_family"),
)

# A fixed key for pg_advisory_xact_lock: serialises schema installation and appends
# across every process that shares the database.
PG_LOCK_KEY = 0x5A7A_A0D1
PG_SCHEMA_LOCK_KEY = 0x5A7A_A0D2

APPEND_ONLY_TABLES: tuple[str, ...] = (
    "audit_events",
    "audit_event_subjects",
    "audit_tree_nodes",
    "audit_checkpoints",
)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
""".strip()


# The batch's events, numbered from ``first`` (a variable of the function): both
# append functions write them alike.
_PG_INSERT_EVENTS = """
    INSERT INTO audit_events (leaf_index, event_id, "time", agency, officer, client_id,
                              purpose, decision, action, hidden_until, leaf)
    SELECT %(first)s + u.n - 1, u.event_id, u.t, u.agency, u.officer, u.client_id,
           u.purpose, u.decision, u.action, u.hidden, u.leaf
    FROM unnest(event_ids, times, agencies, officers, client_ids, purposes, decisions,
                actions, hidden, leaves)
         WITH ORDINALITY AS u(event_id, t, agency, officer, client_id, purpose, decision,
                              action, hidden, leaf, n);
""".strip("\n")


_PG_APPEND = """
CREATE OR REPLACE FUNCTION audit_append(
    expected bigint, event_ids text[], times text[], agencies text[], officers text[],
    client_ids text[], purposes text[], decisions text[], actions text[], hidden text[],
    leaves bytea[], subjects text[], subject_leaves bigint[], nodes bigint[], hashes bytea[],
    base_nodes bigint[], base_hashes bytea[]
) RETURNS bigint
LANGUAGE plpgsql
-- Each statement is planned once per connection. A plan made for every call costs more
-- than running the statements, and the choice the plan cache makes on its own depends
-- on cost estimates: a small change to a query can tip it into planning every call.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    current bigint;
    differs boolean;
BEGIN
    -- A statement of its own, before anything is read: in READ COMMITTED each statement
    -- below takes a fresh snapshot, so it sees every batch committed before the lock.
    PERFORM pg_advisory_xact_lock(%(lock)d);
    -- The batch's nodes were computed from a predicted tree of this size. The size alone
    -- does not prove the prediction (another writer could have filled the same range);
    -- the tree's frontier does: the hashes of the complete subtrees that make it up,
    -- which depend on every leaf. All of them must be stored as predicted.
    -- One primary-key probe per frontier node (at most 64), never a scan. The size and
    -- the frontier are read by one statement: each statement has a fixed cost, larger
    -- than a probe.
    SELECT coalesce((SELECT max(leaf_index) FROM audit_events) + 1, 0),
           EXISTS (SELECT FROM generate_series(1, coalesce(array_length(base_nodes, 1), 0)) AS i
                   WHERE (SELECT hash FROM audit_tree_nodes WHERE node = base_nodes[i])
                         IS DISTINCT FROM base_hashes[i])
      INTO current, differs;
    IF current <> expected THEN
        RETURN current;
    END IF;
    IF differs THEN
        RETURN -1;
    END IF;
%(insert_events_from_expected)s
    INSERT INTO audit_event_subjects (subject, leaf_index)
    SELECT * FROM unnest(subjects, subject_leaves);
    INSERT INTO audit_tree_nodes (node, hash) SELECT * FROM unnest(nodes, hashes);
    RETURN expected;
END
$$
""".strip()


# The append for a writer that does not know the stored tree (another process appended
# since it last looked, or it never has): the database takes the batch at whatever size the
# tree has under the lock, and computes the new nodes itself from the stored frontier, in
# the same transaction. One round trip, never a wrong guess, whatever other writers do.
# Returns the batch's first leaf index and the new tree's frontier hashes (those of the
# complete subtrees, largest first: ``merkle.root_nodes`` order), from which the writer can
# predict again. The node keys and hashes are those of ``merkle.new_nodes`` (RFC 9162:
# SHA-256 of 0x00 || leaf, of 0x01 || left || right).
_PG_APPEND_AT_END = """
CREATE OR REPLACE FUNCTION audit_append_at_end(
    event_ids text[], times text[], agencies text[], officers text[], client_ids text[],
    purposes text[], decisions text[], actions text[], hidden text[], leaves bytea[],
    subjects text[], subject_offsets bigint[], OUT first bigint, OUT frontier bytea[]
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    size bigint;
    keys bigint[] := '{}';
    levels int[] := '{}';
    top int;
    node_keys bigint[] := '{}';
    node_hashes bytea[] := '{}';
    h bytea;
    lv int;
    idx bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(%(lock)d);
    SELECT coalesce(max(leaf_index) + 1, 0) INTO size FROM audit_events;
    first := size;
    -- The stored tree's frontier, largest subtree first: one per bit set in the size.
    lv := 0;
    WHILE (size >> lv) > 0 LOOP
        IF (size >> lv) & 1 = 1 THEN
            levels := lv || levels;
            keys := ((lv::bigint << 56) | ((size >> (lv + 1)) << 1)) || keys;
        END IF;
        lv := lv + 1;
    END LOOP;
    -- One primary-key probe per frontier node, never a scan (whatever the plan's guess
    -- of the array's length).
    SELECT coalesce(array_agg((SELECT t.hash FROM audit_tree_nodes AS t WHERE t.node = k.node)
                              ORDER BY k.n), '{}')
    INTO frontier
    FROM unnest(keys) WITH ORDINALITY AS k(node, n);
    top := coalesce(array_length(levels, 1), 0);
    IF coalesce(array_length(frontier, 1), 0) <> top
            OR array_position(frontier, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'the audit tree''s node table is missing frontier nodes';
    END IF;
    FOR i IN 1 .. coalesce(array_length(leaves, 1), 0) LOOP
        idx := size + i - 1;
        lv := 0;
        h := sha256(decode('00', 'hex') || leaves[i]);
        node_keys := node_keys || idx;
        node_hashes := node_hashes || h;
        WHILE top > 0 AND levels[top] = lv LOOP
            h := sha256(decode('01', 'hex') || frontier[top] || h);
            top := top - 1;
            lv := lv + 1;
            idx := idx >> 1;
            node_keys := node_keys || ((lv::bigint << 56) | idx);
            node_hashes := node_hashes || h;
        END LOOP;
        top := top + 1;
        levels[top] := lv;
        frontier[top] := h;
    END LOOP;
    frontier := frontier[1:top];
%(insert_events_from_size)s
    INSERT INTO audit_event_subjects (subject, leaf_index)
    SELECT s.subject, size + s.offset_in_batch
    FROM unnest(subjects, subject_offsets) AS s(subject, offset_in_batch);
    INSERT INTO audit_tree_nodes (node, hash) SELECT * FROM unnest(node_keys, node_hashes);
END
$$
""".strip()


# Earlier signatures of audit_append, dropped so that only the current one can be called.
_PG_DROP_OLD_APPEND = (
    "DROP FUNCTION IF EXISTS audit_append(bigint, text[], text[], text[], text[], text[],"
    " text[], text[], text[], text[], bytea[], text[], bigint[], bigint[], bytea[])",
    "DROP FUNCTION IF EXISTS audit_append(bigint, text[], text[], text[], text[], text[],"
    " text[], text[], text[], text[], bytea[], text[], bigint[], bigint[], bytea[], bytea)",
)


def ddl_after_create(dialect_name: str) -> list[str]:
    """The statements that make the append-only tables refuse UPDATE and DELETE.

    On PostgreSQL also the ``audit_append`` function: a whole batch in one round trip
    (see :func:`audit.store.append_batch_fast`).

    Idempotent (safe to run on every start) and reusable from Alembic migrations:
    ``for stmt in ddl_after_create(op.get_bind().dialect.name): op.execute(stmt)``.
    """
    out: list[str] = []
    if dialect_name == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for verb in ("UPDATE", "DELETE"):
                out.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} "
                    f"BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect_name == "postgresql":
        out.append(_PG_FUNCTION)
        out.extend(_PG_DROP_OLD_APPEND)
        out.append(
            _PG_APPEND
            % {
                "lock": PG_LOCK_KEY,
                "insert_events_from_expected": _PG_INSERT_EVENTS % {"first": "expected"},
            }
        )
        out.append(
            _PG_APPEND_AT_END
            % {
                "lock": PG_LOCK_KEY,
                "insert_events_from_size": _PG_INSERT_EVENTS % {"first": "size"},
            }
        )
        for table in APPEND_ONLY_TABLES:
            out.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            out.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
            )
            out.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            out.append(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
    else:
        raise ValueError(f"unsupported database for the audit log: {dialect_name}")
    return out


async def install_schema(engine: AsyncEngine) -> None:
    """Create the audit tables and the append-only triggers; safe to call repeatedly."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        configure_sqlite(engine)
    async with engine.begin() as conn:
        if dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_SCHEMA_LOCK_KEY})
        await conn.run_sync(metadata.create_all)
        for stmt in ddl_after_create(dialect):
            await conn.exec_driver_sql(stmt)


SQLITE_WRITE = "audit_sqlite_immediate"
"""Execution option: begin the transaction with ``BEGIN IMMEDIATE`` (take the write lock)."""

_configured: weakref.WeakSet[Any] = weakref.WeakSet()


def configure_sqlite(engine: AsyncEngine) -> None:
    """Make an aiosqlite engine durable and let the audit writer lock the database.

    Sets, on every new connection: WAL journal, ``synchronous=FULL`` (a commit is on disk
    when it returns: the audit log promises durability), a busy timeout, and manual
    transaction control so that a write transaction can start with ``BEGIN IMMEDIATE``.
    Idempotent; call it right after ``create_async_engine`` and before the first connection
    (``AuditLog`` and ``install_schema`` call it too). It installs a ``begin`` listener, so
    the owner of the engine must not install another one that emits ``BEGIN``.
    """
    sync_engine = engine.sync_engine
    if engine.dialect.name != "sqlite" or sync_engine in _configured:
        return
    _configured.add(sync_engine)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(SQLITE_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
