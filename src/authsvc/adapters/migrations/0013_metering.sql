-- Request limits per subscription plan (issue 14). A workspace's plan is the operator's to set
-- (`authsvc workspace set-plan`); NULL: the plans file's default. A key may have limits of its
-- own, below its workspace's plan; NULL: none.
ALTER TABLE workspaces ADD COLUMN plan text;
ALTER TABLE api_keys
    ADD COLUMN rate_limit_per_minute bigint CHECK (rate_limit_per_minute > 0),
    ADD COLUMN rate_limit_per_day bigint CHECK (rate_limit_per_day > 0);

-- Each budget's count for one window: how much of `cap` the replicas have drawn as leases.
-- A replica spends its leases in memory, so a charged request costs no round trip.
CREATE TABLE usage_leases (
    subject text NOT NULL,
    window_name text NOT NULL,
    window_start timestamptz NOT NULL,
    cap bigint NOT NULL,
    granted bigint NOT NULL,  -- may exceed cap when a plan is lowered mid-window
    last_grant bigint NOT NULL,
    PRIMARY KEY (subject, window_name, window_start)
);
CREATE INDEX usage_leases_window_idx ON usage_leases (window_start);
