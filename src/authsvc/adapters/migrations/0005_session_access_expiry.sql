-- How long the access tokens of each session may still be presented: a revoked session has to
-- be remembered by the replicas' revocation index only until then.
ALTER TABLE sessions ADD COLUMN access_expires_at timestamptz;
CREATE INDEX sessions_revoked_recent_idx ON sessions (access_expires_at) WHERE revoked_at IS NOT NULL;
