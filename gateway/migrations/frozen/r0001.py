# ruff: noqa: E501 (SQL kept exactly as the revision ran it)
"""Revision 0001, the initial schema: the audit tables refuse UPDATE, DELETE and
TRUNCATE; audit_append writes a batch in one round trip."""

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
    """CREATE OR REPLACE FUNCTION audit_append(
    expected bigint, event_ids text[], times text[], agencies text[], officers text[],
    client_ids text[], purposes text[], decisions text[], actions text[], hidden text[],
    leaves bytea[], subjects text[], subject_leaves bigint[], nodes bigint[], hashes bytea[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    current bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1517986001);
    SELECT coalesce(max(leaf_index) + 1, 0) INTO current FROM audit_events;
    IF current <> expected THEN
        RETURN current;
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
