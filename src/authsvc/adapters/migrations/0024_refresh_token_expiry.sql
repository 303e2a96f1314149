-- The sweeper forgets refresh tokens a day past their expiry (adapters/retention.py): each refresh
-- writes one, so without this the table only grows. On a large table this index takes a while to
-- build, blocking refreshes meanwhile: see docs/operations.md, "Upgrading".
CREATE INDEX IF NOT EXISTS refresh_tokens_expiry_idx ON refresh_tokens (expires_at);
