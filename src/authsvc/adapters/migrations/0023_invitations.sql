-- Invitations to join a workspace (issue 16, item 2): a one-time token (kept as its SHA-256
-- digest) for an email and a role, good until `expires_at`, used up when accepted. Inviting an
-- address again retires its earlier invitations to the workspace.
CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    digest bytea NOT NULL UNIQUE,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    retired_at timestamptz
);
-- A workspace's open invitations, oldest first, and those of one address.
CREATE INDEX invitations_open_idx ON invitations (workspace_id, created_at, id)
    WHERE accepted_at IS NULL AND retired_at IS NULL;
CREATE INDEX invitations_email_idx ON invitations (workspace_id, email)
    WHERE accepted_at IS NULL AND retired_at IS NULL;
