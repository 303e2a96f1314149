-- One-time password reset tokens (issue 16, item 7): only their SHA-256 is kept. A new table only:
-- replicas of the previous release never read it.
CREATE TABLE password_reset_tokens (
    digest bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_by uuid REFERENCES users (id) ON DELETE SET NULL,  -- the admin; NULL: asked by mail
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);
