-- Mail waiting to go out (issue 16, item 9): written in the transaction that makes it needed,
-- sent by whichever replica claims it, retried with backoff until `not_after`. The message is
-- sealed (AES-GCM under a key derived from the root secret) and dropped once sent or given up.
CREATE TABLE mail_outbox (
    id bigserial PRIMARY KEY,
    payload bytea,
    created_at timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    sent_at timestamptz,
    given_up_at timestamptz,
    last_error text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND given_up_at IS NULL;
