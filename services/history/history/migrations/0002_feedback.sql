-- items.feedback: one verdict per user and item; the last one wins.

CREATE TABLE feedback (
    user_id         text NOT NULL,
    -- Copied from the item's row when the verdict is written (items never move
    -- between conversations), so a conversation's feedback reads without a join.
    conversation_id text NOT NULL,
    -- Deleting an item (or its conversation, which deletes its items) deletes
    -- the feedback on it.
    item_id         text NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('positive', 'negative')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Also the index the item pages probe: (requesting user, item id).
    PRIMARY KEY (user_id, item_id)
);

-- The cascade from messages looks feedback up by item alone.
CREATE INDEX feedback_item ON feedback (item_id);
