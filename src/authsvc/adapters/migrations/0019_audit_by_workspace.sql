-- A workspace's audit events, newest first (GET /api/v1/audit-events, issue 16 item 11). An index
-- only: replicas of the previous release write the table as before.
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, at DESC, id DESC);
