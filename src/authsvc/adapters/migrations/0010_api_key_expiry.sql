-- When each API key stops validating; NULL: never (every key from before this migration).
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
