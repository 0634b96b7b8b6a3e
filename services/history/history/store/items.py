"""Messages (ChatKit thread items): insert, upsert, get, page, delete; per user.

Items belong to a conversation, so every statement joins the user's conversation.
Each write also bumps the conversation's ``updated_at``, except the bulk deletes:
they only run inside a run open, whose run insert bumps it.
"""

from typing import Any, Literal

import asyncpg
from asyncpg import Record
from chatkit.types import ThreadItem

from history.db import Executor
from history.item_columns import content_of, role_of
from history.store.errors import Conflict, NotFound, StaleRun
from history.timestamps import as_utc
from shared.history_api import ItemPage, ItemRecord, ItemWrite, Order

# $1 thread, $2 user, $3..$8 the row, and for a fenced write $9 run, $10 token.
# Answers whether the thread is the user's, whether the fence holds and whether
# the row was written, in one statement.
WRITE = """
WITH conv AS (
    SELECT id FROM conversations WHERE id = $1 AND user_id = $2
), fence AS (
    {fence}
), written AS (
    INSERT INTO messages
        (id, conversation_id, role, content, tool_calls, created_at, item)
    SELECT $3, conv.id, $4, $5, $6, $7, $8 FROM conv, fence
    ON CONFLICT (id) DO {on_conflict}
    RETURNING conversation_id
), touched AS (
    UPDATE conversations SET updated_at = now()
    WHERE id IN (SELECT conversation_id FROM written)
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM conv) AS found, EXISTS (SELECT 1 FROM fence) AS fenced,
    EXISTS (SELECT 1 FROM touched) AS written
"""
NO_FENCE_CLAUSE = "SELECT true"
# The run must still be the thread's live run with that token. FOR SHARE holds
# it until the write commits: a reap or a new run's open (which fails this one
# first) waits for the write, or the write sees the run ended and is refused.
RUN_FENCE_CLAUSE = """SELECT true FROM runs
    WHERE id = $9 AND fencing_token = $10 AND conversation_id = $1 AND user_id = $2
      AND status IN ('queued', 'running') AND lease_expires_at > now()
    FOR SHARE"""
# The original created_at and seq stay, so an overwritten item keeps its place.
OVERWRITE_CLAUSE = """UPDATE SET
        role = EXCLUDED.role,
        content = EXCLUDED.content,
        item = EXCLUDED.item{tool_calls}
    WHERE messages.conversation_id = EXCLUDED.conversation_id"""
WriteMode = Literal["insert", "upsert", "upsert_keeping_calls"]
CONFLICT_ACTIONS: tuple[tuple[WriteMode, str], ...] = (
    ("insert", "NOTHING"),
    (
        "upsert",
        OVERWRITE_CLAUSE.format(tool_calls=", tool_calls = EXCLUDED.tool_calls"),
    ),
    # For writers that carry no tool calls (a run's edits): an overwrite keeps them.
    ("upsert_keeping_calls", OVERWRITE_CLAUSE.format(tool_calls="")),
)

# Built once: (mode, fenced) -> statement.
WRITES = {
    (mode, fenced): WRITE.format(
        on_conflict=action, fence=RUN_FENCE_CLAUSE if fenced else NO_FENCE_CLAUSE
    )
    for mode, action in CONFLICT_ACTIONS
    for fenced in (False, True)
}

# The requesting user's feedback rides along (the thread's owner is that user).
GET = """
SELECT m.item, m.tool_calls, m.role, m.content, f.kind AS feedback
FROM messages m JOIN conversations c ON c.id = m.conversation_id
LEFT JOIN feedback f ON f.user_id = c.user_id AND f.item_id = m.id
WHERE m.id = $3 AND m.conversation_id = $1 AND c.user_id = $2
"""

DELETE = """
WITH deleted AS (
    DELETE FROM messages m USING conversations c
    WHERE m.id = $3 AND m.conversation_id = $1
      AND c.id = m.conversation_id AND c.user_id = $2
    RETURNING m.conversation_id
)
UPDATE conversations SET updated_at = now()
WHERE id IN (SELECT conversation_id FROM deleted)
RETURNING id
"""

# $1 thread, $2 user, $3 item ids; ids that are not the thread's are skipped.
DELETE_MANY = """
DELETE FROM messages m USING conversations c
WHERE m.conversation_id = $1 AND m.id = ANY($3::text[])
  AND c.id = m.conversation_id AND c.user_id = $2
RETURNING m.id
"""

# $1 thread, $2 user, $3 anchor item id: every item strictly after the anchor
# in page order (created_at, seq) goes; the anchor and all before it stay.
DELETE_AFTER = """
WITH anchor AS (
    SELECT m.created_at, m.seq
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE m.id = $3 AND m.conversation_id = $1 AND c.user_id = $2
), deleted AS (
    DELETE FROM messages m USING anchor
    WHERE m.conversation_id = $1
      AND (m.created_at, m.seq) > (anchor.created_at, anchor.seq)
    RETURNING m.id
)
SELECT EXISTS (SELECT 1 FROM anchor) AS found, (SELECT count(*) FROM deleted) AS deleted
"""

# $1 thread, $2 user, $3 page size + 1, $4 cursor item id. No row at all means
# the thread is not the user's; one row with a NULL item means an empty page.
PAGE = """
SELECT m.id, m.item, m.tool_calls, m.role, m.content, f.kind AS feedback
FROM conversations c
LEFT JOIN LATERAL (
    SELECT id, item, tool_calls, role, content, created_at, seq FROM messages
    WHERE conversation_id = c.id {cursor}
    ORDER BY created_at {order}, seq {order}
    LIMIT $3
) m ON true
LEFT JOIN feedback f ON f.user_id = c.user_id AND f.item_id = m.id
WHERE c.id = $1 AND c.user_id = $2
ORDER BY m.created_at {order}, m.seq {order}
"""
CURSOR_CLAUSE = """AND (created_at, seq) {op} (
        SELECT created_at, seq FROM messages WHERE id = $4 AND conversation_id = c.id
    )"""

# The thread's first $3 items, oldest first, as one jsonb array of ItemRecord
# fields: a subquery of a larger statement, correlated on its ``c`` (the thread).
FIRST_PAGE_JSON = """(
    SELECT COALESCE(jsonb_agg(jsonb_build_object(
        'item', m.item, 'tool_calls', m.tool_calls, 'role', m.role,
        'content', m.content, 'feedback', f.kind
    ) ORDER BY m.created_at, m.seq), '[]'::jsonb)
    FROM (
        SELECT id, item, tool_calls, role, content, created_at, seq FROM messages
        WHERE conversation_id = c.id ORDER BY created_at, seq LIMIT $3
    ) m
    LEFT JOIN feedback f ON f.user_id = c.user_id AND f.item_id = m.id
)"""

# Built once: the direction comes from these literals only.
PAGE_QUERIES = {
    (order, with_cursor): PAGE.format(
        order=order.upper(),
        cursor=CURSOR_CLAUSE.format(op=">" if order == "asc" else "<")
        if with_cursor
        else "",
    )
    for order in ("asc", "desc")
    for with_cursor in (False, True)
}


def _row_values(write: ItemWrite) -> tuple[Any, ...]:
    item = write.item
    values: tuple[Any, ...] = (
        item.id,
        role_of(item),
        content_of(item),
        [call.model_dump(mode="json") for call in write.tool_calls],
        as_utc(item.created_at),
        item.model_dump(mode="json", by_alias=True),
    )
    if write.fence is not None:
        values = (*values, write.fence.run_id, write.fence.fencing_token)
    return values


async def _write(
    db: Executor, mode: WriteMode, user_id: str, thread_id: str, write: ItemWrite
) -> None:
    query = WRITES[(mode, write.fence is not None)]
    try:
        row = await db.fetchrow(query, thread_id, user_id, *_row_values(write))
    except asyncpg.ForeignKeyViolationError as exc:
        # The thread was deleted between the check and the insert.
        raise NotFound("thread") from exc
    if row is None or not row["found"]:
        raise NotFound("thread")
    if not row["fenced"]:
        raise StaleRun()
    if not row["written"]:
        raise Conflict("id_taken", "an item with this id already exists")


async def insert_item(
    db: Executor, user_id: str, thread_id: str, write: ItemWrite
) -> None:
    """Add an item to the user's thread; ``Conflict`` if its id exists or the
    write's fence is stale."""
    await _write(db, "insert", user_id, thread_id, write)


async def upsert_item(
    db: Executor, user_id: str, thread_id: str, write: ItemWrite
) -> None:
    """Insert or overwrite an item by id; ``Conflict`` if the id is another
    thread's or the write's fence is stale."""
    await _write(db, "upsert", user_id, thread_id, write)


async def save_edited_item(
    db: Executor, user_id: str, thread_id: str, item: ThreadItem
) -> None:
    """Upsert an item a run open carries; an overwrite keeps the stored tool calls."""
    await _write(db, "upsert_keeping_calls", user_id, thread_id, ItemWrite(item=item))


async def delete_items(
    db: Executor, user_id: str, thread_id: str, item_ids: list[str]
) -> int:
    """Delete those of ``item_ids`` that are items of the user's thread; count them."""
    return len(await db.fetch(DELETE_MANY, thread_id, user_id, item_ids))


async def delete_items_after(
    db: Executor, user_id: str, thread_id: str, item_id: str
) -> int:
    """Delete every item after ``item_id``; ``NotFound`` if it is not the thread's."""
    row = await db.fetchrow(DELETE_AFTER, thread_id, user_id, item_id)
    if row is None or not row["found"]:
        raise NotFound("item")
    deleted: int = row["deleted"]
    return deleted


def _record(row: Record) -> ItemRecord:
    return ItemRecord.model_validate(
        {
            "item": row["item"],
            "tool_calls": row["tool_calls"],
            "role": row["role"],
            "content": row["content"],
            "feedback": row["feedback"],
        }
    )


def first_page(records: list[dict[str, Any]], limit: int) -> ItemPage:
    """The page of ``FIRST_PAGE_JSON`` fetched with ``limit + 1`` rows."""
    page = [ItemRecord.model_validate(record) for record in records[: limit + 1]]
    has_more = len(page) > limit
    page = page[:limit]
    return ItemPage(
        data=page, has_more=has_more, after=page[-1].item.id if has_more else None
    )


async def get_item(
    db: Executor, user_id: str, thread_id: str, item_id: str
) -> ItemRecord:
    """One item of the user's thread; ``NotFound`` otherwise."""
    row = await db.fetchrow(GET, thread_id, user_id, item_id)
    if row is None:
        raise NotFound("item")
    return _record(row)


async def delete_item(db: Executor, user_id: str, thread_id: str, item_id: str) -> None:
    """Delete one item of the user's thread; ``NotFound`` otherwise."""
    if await db.fetchval(DELETE, thread_id, user_id, item_id) is None:
        raise NotFound("item")


async def list_items(
    db: Executor,
    user_id: str,
    thread_id: str,
    *,
    limit: int,
    after: str | None,
    order: Order,
) -> ItemPage:
    """One page of the thread's items in (created_at, insertion) order, one query."""
    args: tuple[Any, ...] = (thread_id, user_id, limit + 1)
    if after:
        args = (*args, after)
    rows = await db.fetch(PAGE_QUERIES[(order, bool(after))], *args)
    if not rows:
        raise NotFound("thread")
    rows = [row for row in rows if row["id"] is not None]
    has_more = len(rows) > limit
    rows = rows[:limit]
    return ItemPage(
        data=[_record(row) for row in rows],
        has_more=has_more,
        after=rows[-1]["id"] if has_more else None,
    )
