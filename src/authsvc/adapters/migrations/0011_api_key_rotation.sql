-- Rotation with overlap: the secret a key had before its last rotation (its SHA-256, as key_hash)
-- validates, as the same key, until previous_expires_at; later rotations replace it.
ALTER TABLE api_keys
    ADD COLUMN previous_key_hash bytea UNIQUE,
    ADD COLUMN previous_expires_at timestamptz;
