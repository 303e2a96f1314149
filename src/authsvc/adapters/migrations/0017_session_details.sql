-- What a user sees of their sessions (issue 16): the client address and user agent of the last
-- login or refresh, and when it last refreshed. Columns only added, all nullable: replicas of the
-- previous release keep starting and refreshing sessions (leaving them empty) while this one runs.
ALTER TABLE sessions
    ADD COLUMN client_ip text,
    ADD COLUMN user_agent text,
    ADD COLUMN last_refreshed_at timestamptz;
-- A user's sessions that may still be live, oldest first (GET /api/v1/auth/sessions).
CREATE INDEX sessions_user_live_idx ON sessions (user_id, created_at, id) WHERE revoked_at IS NULL;
