-- The API key each key was created with, if a key created it: revoking a key revokes the keys it
-- created, transitively. Keys from before this migration record none.
ALTER TABLE api_keys ADD COLUMN created_by_key_id uuid REFERENCES api_keys (id);
CREATE INDEX api_keys_created_by_key_idx ON api_keys (created_by_key_id) WHERE created_by_key_id IS NOT NULL;
