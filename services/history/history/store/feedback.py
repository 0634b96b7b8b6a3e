"""Feedback (``items.feedback``): the user's verdict on items of their thread."""

import asyncpg

from history.db import Executor
from history.store.errors import NotFound
from shared.history_api import FeedbackWrite

# $1 thread, $2 user, $3 item ids, $4 kind. One statement, so all or nothing:
# rows are written only when every wanted id is an item of the user's thread.
SAVE = """
WITH conv AS (
    SELECT id FROM conversations WHERE id = $1 AND user_id = $2
), wanted AS (
    SELECT DISTINCT unnest($3::text[]) AS id
), targets AS (
    SELECT m.id, m.conversation_id
    FROM messages m JOIN conv ON conv.id = m.conversation_id
    WHERE m.id IN (SELECT id FROM wanted)
), written AS (
    INSERT INTO feedback (user_id, conversation_id, item_id, kind)
    SELECT $2, conversation_id, id, $4 FROM targets
    WHERE (SELECT count(*) FROM targets) = (SELECT count(*) FROM wanted)
    ON CONFLICT (user_id, item_id) DO UPDATE SET
        kind = EXCLUDED.kind,
        updated_at = now()
    RETURNING item_id
)
SELECT EXISTS (SELECT 1 FROM conv) AS found, (SELECT count(*) FROM written) AS written
"""


async def save_feedback(
    db: Executor, user_id: str, thread_id: str, write: FeedbackWrite
) -> None:
    """Record the verdict on all items, or on none (``NotFound``) if one is amiss."""
    try:
        row = await db.fetchrow(SAVE, thread_id, user_id, write.item_ids, write.kind)
    except asyncpg.ForeignKeyViolationError as exc:
        # An item was deleted between the statement's snapshot and its insert.
        raise NotFound("item") from exc
    if row is None or not row["found"]:
        raise NotFound("thread")
    if row["written"] != len(set(write.item_ids)):
        raise NotFound("item")
