-- Requests charged with each API key: per minute (kept a couple of hours, for the last hour) and
-- per UTC day (kept 90 days), written by each replica in batches.
CREATE TABLE api_key_usage_minutes (
    key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    minute timestamptz NOT NULL,
    requests bigint NOT NULL,
    PRIMARY KEY (key_id, minute)
);
CREATE TABLE api_key_usage_days (
    key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    day date NOT NULL,
    requests bigint NOT NULL,
    PRIMARY KEY (key_id, day)
);
