-- GCRA state shared by every replica: one theoretical arrival time per limited key.
CREATE TABLE rate_limits (
    key bytea PRIMARY KEY,
    tat timestamptz NOT NULL,
    allowed boolean NOT NULL
);
CREATE INDEX rate_limits_tat_idx ON rate_limits (tat);
