"""Conversations (ChatKit threads): save, get, page, delete; always per user."""

from typing import Any

from asyncpg import Record
from chatkit.types import ThreadMetadata

from history.db import Executor
from history.store.errors import Conflict, NotFound
from history.timestamps import as_utc
from shared.history_api import Order, ThreadPage, ThreadRecord, ThreadSort

SAVE = """
INSERT INTO conversations (id, user_id, title, status, metadata, thread, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title,
    status = EXCLUDED.status,
    metadata = EXCLUDED.metadata,
    thread = EXCLUDED.thread,
    created_at = EXCLUDED.created_at,
    updated_at = now()
WHERE conversations.user_id = EXCLUDED.user_id
RETURNING id
"""

INSERT = """
INSERT INTO conversations (id, user_id, title, status, metadata, thread, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

# The thread's live run, if any: the partial unique index on active runs makes
# it at most one row, found by index for each thread of a page.
ACTIVE_RUN_CLAUSE = """LEFT JOIN LATERAL (
    SELECT r.id AS active_run_id FROM runs r
    WHERE r.conversation_id = c.id AND r.status IN ('queued', 'running')
      AND r.lease_expires_at > now()
    LIMIT 1
) r ON true"""

GET = f"""
SELECT c.thread, c.updated_at, r.active_run_id FROM conversations c
{ACTIVE_RUN_CLAUSE}
WHERE c.id = $1 AND c.user_id = $2
"""

DELETE = "DELETE FROM conversations WHERE id = $1 AND user_id = $2 RETURNING id"

# $1 user, $2 page size + 1, $3 cursor thread id. The cursor row's sort key,
# tie-broken by id, bounds the page; an unknown cursor yields an empty page.
PAGE = f"""
SELECT c.id, c.thread, c.updated_at, r.active_run_id FROM conversations c
{ACTIVE_RUN_CLAUSE}
WHERE c.user_id = $1 {{cursor}}
ORDER BY c.{{sort}} {{order}}, c.id {{order}}
LIMIT $2
"""
CURSOR_CLAUSE = """AND (c.{sort}, c.id) {op} (
    SELECT {sort}, id FROM conversations WHERE id = $3 AND user_id = $1
)"""


def _page_query(sort: ThreadSort, order: Order, with_cursor: bool) -> str:
    op = ">" if order == "asc" else "<"
    cursor = CURSOR_CLAUSE.format(sort=sort, op=op) if with_cursor else ""
    return PAGE.format(cursor=cursor, sort=sort, order=order.upper())


# Built once: the sort column and direction come from these literals only.
PAGE_QUERIES = {
    (sort, order, with_cursor): _page_query(sort, order, with_cursor)
    for sort in ("created_at", "updated_at")
    for order in ("asc", "desc")
    for with_cursor in (False, True)
}


def _row_values(user_id: str, thread: ThreadMetadata) -> tuple[Any, ...]:
    return (
        thread.id,
        user_id,
        thread.title,
        thread.status.model_dump(mode="json"),
        thread.metadata,
        thread.model_dump(mode="json", by_alias=True),
        as_utc(thread.created_at),
    )


def _record(row: Record) -> ThreadRecord:
    return ThreadRecord(
        thread=ThreadMetadata.model_validate(row["thread"]),
        updated_at=row["updated_at"],
        active_run_id=row["active_run_id"],
    )


def _taken() -> Conflict:
    return Conflict("id_taken", "this thread id is already in use")


async def save_thread(db: Executor, user_id: str, thread: ThreadMetadata) -> None:
    """Create or overwrite the user's thread; ``Conflict`` if another user owns it."""
    if await db.fetchval(SAVE, *_row_values(user_id, thread)) is None:
        raise _taken()


async def insert_thread(db: Executor, user_id: str, thread: ThreadMetadata) -> None:
    """Create a thread; ``Conflict`` if the id exists."""
    if await db.fetchval(INSERT, *_row_values(user_id, thread)) is None:
        raise _taken()


async def get_thread(db: Executor, user_id: str, thread_id: str) -> ThreadRecord:
    """The user's thread; ``NotFound`` otherwise."""
    row = await db.fetchrow(GET, thread_id, user_id)
    if row is None:
        raise NotFound("thread")
    return _record(row)


async def list_threads(
    db: Executor,
    user_id: str,
    *,
    limit: int,
    after: str | None,
    order: Order,
    sort: ThreadSort,
) -> ThreadPage:
    """One page of the user's threads in one query; ``after`` is exclusive."""
    args: tuple[Any, ...] = (
        (user_id, limit + 1, after) if after else (user_id, limit + 1)
    )
    rows = await db.fetch(PAGE_QUERIES[(sort, order, bool(after))], *args)
    has_more = len(rows) > limit
    rows = rows[:limit]
    return ThreadPage(
        data=[_record(row) for row in rows],
        has_more=has_more,
        after=rows[-1]["id"] if has_more else None,
    )


async def delete_thread(db: Executor, user_id: str, thread_id: str) -> None:
    """Delete the user's thread; its items and runs go with it (cascade)."""
    if await db.fetchval(DELETE, thread_id, user_id) is None:
        raise NotFound("thread")
