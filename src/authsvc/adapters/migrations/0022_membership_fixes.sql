-- Review fixes to 0021 (issue 16).
--
-- The previous release never moves a user to another workspace; only this release does, when it
-- removes a membership and the home mirror moves to one that is left. Inserting memberships on
-- such an update could bring back one a concurrent removal had just deleted, so an update of the
-- user row now only carries a role change to the home membership, and never creates one.
CREATE OR REPLACE FUNCTION authsvc_home_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.workspace_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO memberships (user_id, workspace_id, role, created_at)
        VALUES (NEW.id, NEW.workspace_id, NEW.role, NEW.created_at)
        ON CONFLICT (user_id, workspace_id) DO NOTHING;
    ELSE
        UPDATE memberships SET role = NEW.role
        WHERE user_id = NEW.id AND workspace_id = NEW.workspace_id AND role <> NEW.role;
    END IF;
    RETURN NULL;
END $$;

-- The workspace an admin issued a reset token in: it sets the password only while the user is a
-- member of that workspace alone (a password opens every workspace of its user).
ALTER TABLE password_reset_tokens ADD COLUMN workspace_id uuid REFERENCES workspaces (id);
