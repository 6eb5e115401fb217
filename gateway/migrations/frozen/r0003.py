# ruff: noqa: E501 (SQL kept exactly as the revision ran it)
"""Revision 0003: audit_append reads the tree in one statement; audit_append_at_end
places a batch on the tree the database holds."""

SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_subjects_no_update BEFORE UPDATE ON audit_event_subjects BEGIN SELECT RAISE(ABORT, 'audit_event_subjects is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_subjects_no_delete BEFORE DELETE ON audit_event_subjects BEGIN SELECT RAISE(ABORT, 'audit_event_subjects is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_tree_nodes_no_update BEFORE UPDATE ON audit_tree_nodes BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_tree_nodes_no_delete BEFORE DELETE ON audit_tree_nodes BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
)

POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$""",
    "DROP FUNCTION IF EXISTS audit_append(bigint, text[], text[], text[], text[], text[], text[], text[], text[], text[], bytea[], text[], bigint[], bigint[], bytea[])",
    "DROP FUNCTION IF EXISTS audit_append(bigint, text[], text[], text[], text[], text[], text[], text[], text[], text[], bytea[], text[], bigint[], bigint[], bytea[], bytea)",
    """CREATE OR REPLACE FUNCTION audit_append(
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
    PERFORM pg_advisory_xact_lock(1517986001);
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
    INSERT INTO audit_events (leaf_index, event_id, "time", agency, officer, client_id,
                              purpose, decision, action, hidden_until, leaf)
    SELECT expected + u.n - 1, u.event_id, u.t, u.agency, u.officer, u.client_id,
           u.purpose, u.decision, u.action, u.hidden, u.leaf
    FROM unnest(event_ids, times, agencies, officers, client_ids, purposes, decisions,
                actions, hidden, leaves)
         WITH ORDINALITY AS u(event_id, t, agency, officer, client_id, purpose, decision,
                              action, hidden, leaf, n);
    INSERT INTO audit_event_subjects (subject, leaf_index)
    SELECT * FROM unnest(subjects, subject_leaves);
    INSERT INTO audit_tree_nodes (node, hash) SELECT * FROM unnest(nodes, hashes);
    RETURN expected;
END
$$""",
    """CREATE OR REPLACE FUNCTION audit_append_at_end(
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
    PERFORM pg_advisory_xact_lock(1517986001);
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
    INSERT INTO audit_events (leaf_index, event_id, "time", agency, officer, client_id,
                              purpose, decision, action, hidden_until, leaf)
    SELECT size + u.n - 1, u.event_id, u.t, u.agency, u.officer, u.client_id,
           u.purpose, u.decision, u.action, u.hidden, u.leaf
    FROM unnest(event_ids, times, agencies, officers, client_ids, purposes, decisions,
                actions, hidden, leaves)
         WITH ORDINALITY AS u(event_id, t, agency, officer, client_id, purpose, decision,
                              action, hidden, leaf, n);
    INSERT INTO audit_event_subjects (subject, leaf_index)
    SELECT s.subject, size + s.offset_in_batch
    FROM unnest(subjects, subject_offsets) AS s(subject, offset_in_batch);
    INSERT INTO audit_tree_nodes (node, hash) SELECT * FROM unnest(node_keys, node_hashes);
END
$$""",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_event_subjects_append_only ON audit_event_subjects",
    "CREATE TRIGGER audit_event_subjects_append_only BEFORE UPDATE OR DELETE ON audit_event_subjects FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_event_subjects_no_truncate ON audit_event_subjects",
    "CREATE TRIGGER audit_event_subjects_no_truncate BEFORE TRUNCATE ON audit_event_subjects FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_tree_nodes_append_only ON audit_tree_nodes",
    "CREATE TRIGGER audit_tree_nodes_append_only BEFORE UPDATE OR DELETE ON audit_tree_nodes FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_tree_nodes_no_truncate ON audit_tree_nodes",
    "CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints",
    "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    "DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints",
    "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
)
