-- What an API key's creator attaches to it (a JSON object of at most 2 KiB), told to every
-- service that validates the key.
ALTER TABLE api_keys ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
