-- The audit trail: security events, written in small batches, queried by operators.
CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    event text NOT NULL,
    user_id uuid,
    workspace_id uuid,
    subject_id text,
    client_ip text,
    detail text
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, at);
