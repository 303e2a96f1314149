-- The client networks each account logged in from, and when last: a login from one of them is
-- not held back by the account-wide failure cap that strangers can fill (OWASP's known devices).
-- Accounts (normalised emails) and networks are kept as SHA-256 digests, as rate-limit keys are.
CREATE TABLE login_networks (
    account bytea NOT NULL,
    network bytea NOT NULL,
    last_success_at timestamptz NOT NULL,
    PRIMARY KEY (account, network)
);
CREATE INDEX login_networks_last_success_idx ON login_networks (last_success_at);
