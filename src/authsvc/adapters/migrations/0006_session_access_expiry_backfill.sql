-- Sessions from before 0005 have no access_expires_at: their session end is a safe upper bound
-- (no access token outlives its session), so a revoked one is never left out of the index.
UPDATE sessions SET access_expires_at = expires_at WHERE access_expires_at IS NULL;
ALTER TABLE sessions ALTER COLUMN access_expires_at SET NOT NULL;
