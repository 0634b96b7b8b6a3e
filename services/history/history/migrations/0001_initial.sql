-- Conversations (ChatKit threads), their items, runs, attachments and tasks.
-- Ids are minted by the services (thr_, msg_, run_, ...), hence text keys.

CREATE TABLE conversations (
    id          text PRIMARY KEY,
    user_id     text NOT NULL,
    title       text,
    status      jsonb NOT NULL DEFAULT '{"type": "active"}',
    metadata    jsonb NOT NULL DEFAULT '{}',
    -- The whole ThreadMetadata as received, so every field round-trips exactly.
    thread      jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Last fencing token handed to a run of this conversation.
    run_counter bigint NOT NULL DEFAULT 0
);

CREATE INDEX conversations_user_created ON conversations (user_id, created_at, id);
CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at, id);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text NOT NULL,
    content         text NOT NULL DEFAULT '',
    tool_calls      jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL,
    -- The whole ChatKit item as received, so every item type round-trips.
    item            jsonb NOT NULL,
    -- Insertion order: breaks ties between items created in the same microsecond.
    seq             bigserial NOT NULL
);

CREATE INDEX messages_conversation_order ON messages (conversation_id, created_at, seq);

CREATE TABLE runs (
    id               text PRIMARY KEY,
    conversation_id  text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id          text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    fencing_token    bigint NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    worker           text,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

-- At most one active run per conversation, whatever the application does.
CREATE UNIQUE INDEX runs_one_active_per_conversation
    ON runs (conversation_id) WHERE status IN ('queued', 'running');

CREATE TABLE attachments (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    title      text NOT NULL,
    notes      text NOT NULL DEFAULT '',
    done       boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tasks_user_created ON tasks (user_id, created_at, id);
