-- The revocations every replica streams to verifiers (WatchRevocations, issue 15), numbered in
-- commit order: a writer takes a transaction lock before it draws its numbers, so a higher number
-- is never visible before a lower one. A client resumes from its last number on any replica; a
-- replica that was deaf for a while reads what it missed from here. Kept a day.
CREATE TABLE revocation_events (
    seq bigserial PRIMARY KEY,
    message text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revocation_events_created_idx ON revocation_events (created_at);
