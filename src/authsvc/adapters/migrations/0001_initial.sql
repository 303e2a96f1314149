-- Workspaces, users, login sessions with their refresh tokens, and API keys.
CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    access_token_ttl_seconds integer
        CHECK (access_token_ttl_seconds BETWEEN 300 AND 2592000),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    email text NOT NULL CHECK (email = lower(email)),
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    current_jti uuid,
    revoked_at timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    jti uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    retired_at timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    created_by uuid NOT NULL REFERENCES users (id),
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL UNIQUE,
    permissions text[] NOT NULL,
    environment text NOT NULL CHECK (environment IN ('live', 'test')),
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id);
