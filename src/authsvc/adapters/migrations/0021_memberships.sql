-- Users in several workspaces (issue 16, items 4-5). A membership gives a user a role in one
-- workspace; each session is scoped to one workspace for its whole life.
--
-- Add first, remove later: `users.workspace_id` and `users.role` stay, as the user's "home"
-- membership, because replicas of the previous release read them (login, refresh) and write them
-- (user creation, role changes) while this one rolls out. The triggers below keep the previous
-- release's writes in step with memberships, and stop it from refreshing a session it would scope
-- to the wrong workspace. A later migration, once no replica of the previous release can run,
-- drops the columns and the triggers.
-- Replicas of the previous release may be writing users meanwhile: none may slip in between the
-- copy below and the trigger that follows it.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE memberships (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, workspace_id)
);
-- A workspace's members, oldest first (GET /api/v1/members), and its admins.
CREATE INDEX memberships_workspace_idx ON memberships (workspace_id, created_at, user_id);

INSERT INTO memberships (user_id, workspace_id, role, created_at)
SELECT id, workspace_id, role, created_at FROM users;

-- A user removed from their home workspace, and in no other, has none: the previous release then
-- finds no workspace for them and refuses their login.
ALTER TABLE users ALTER COLUMN workspace_id DROP NOT NULL;
-- Where a login without "workspace_id" goes.
ALTER TABLE users ADD COLUMN last_workspace_id uuid REFERENCES workspaces (id);

ALTER TABLE sessions ADD COLUMN workspace_id uuid REFERENCES workspaces (id);
UPDATE sessions s SET workspace_id = u.workspace_id FROM users u WHERE u.id = s.user_id;
CREATE INDEX sessions_workspace_user_idx ON sessions (workspace_id, user_id) WHERE revoked_at IS NULL;

-- The previous release creates users and changes their role on `users` alone.
CREATE FUNCTION authsvc_home_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.workspace_id IS NOT NULL THEN
        INSERT INTO memberships (user_id, workspace_id, role, created_at)
        VALUES (NEW.id, NEW.workspace_id, NEW.role, NEW.created_at)
        ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role
        WHERE memberships.role <> EXCLUDED.role;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER users_home_membership AFTER INSERT OR UPDATE OF workspace_id, role ON users
    FOR EACH ROW EXECUTE FUNCTION authsvc_home_membership();

-- The previous release starts sessions without a workspace: they are in the user's home one.
CREATE FUNCTION authsvc_session_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.workspace_id IS NULL THEN
        SELECT workspace_id INTO NEW.workspace_id FROM users WHERE id = NEW.user_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER sessions_workspace BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION authsvc_session_workspace();

-- The previous release refreshes a session with the role and workspace of the user's home
-- membership: for a session scoped elsewhere that would mint a token for the wrong workspace, so
-- its refresh fails instead (this release marks the refresh tokens it writes as scoped).
ALTER TABLE refresh_tokens ADD COLUMN scoped boolean;
CREATE FUNCTION authsvc_refresh_in_scope() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scoped IS NULL AND EXISTS (
        SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = NEW.session_id AND s.workspace_id IS DISTINCT FROM u.workspace_id
    ) THEN
        RAISE EXCEPTION 'session % is scoped to another workspace than its user''s home one', NEW.session_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refresh_tokens_in_scope BEFORE INSERT ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION authsvc_refresh_in_scope();
