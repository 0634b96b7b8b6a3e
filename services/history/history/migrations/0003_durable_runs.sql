-- Durable runs: what started a run, idempotent opens, cancel requests, the
-- last event number, and the indexes of the reap sweep and the latest-run read.

ALTER TABLE runs
    ADD COLUMN kind text NOT NULL DEFAULT 'add_user_message'
        CHECK (kind IN ('create', 'add_user_message', 'client_tool_output',
                        'structured_input', 'retry', 'custom_action', 'simple')),
    -- The user item stored with the run (a reattaching gateway replays it).
    ADD COLUMN user_item_id text,
    -- The request's Idempotency-Key: a retried open returns this run.
    ADD COLUMN idempotency_key text,
    -- Set once, by the first cancel request; the worker polls it (pub/sub may drop).
    ADD COLUMN cancel_requested_at timestamptz,
    -- Sequence number of the run's last event, recorded when it ends.
    ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;

-- One run per key and user; runs opened without a key are not indexed.
CREATE UNIQUE INDEX runs_user_idempotency_key
    ON runs (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The reap sweep: live runs by lease expiry, without reading finished runs.
CREATE INDEX runs_active_lease
    ON runs (lease_expires_at) WHERE status IN ('queued', 'running');

-- Tokens come from the conversation's counter, so they are unique per thread;
-- the highest is the newest run (the latest-run read) and the index also
-- serves the cascade from conversations.
CREATE UNIQUE INDEX runs_conversation_token ON runs (conversation_id, fencing_token);
