"""Runs: open one (durable first, one active run per thread), read, move along.

Opening locks the conversation row (``SELECT ... FOR UPDATE``), so two
concurrent opens on one thread run one after the other and the second sees the
first's run; the partial unique index ``runs_one_active_per_conversation``
backs this up.
"""

import asyncpg
from asyncpg import Record

from history.db import Connection, Executor
from history.store import items, threads
from history.store.errors import Conflict, NotFound
from shared.history_api import ItemWrite, RunOpen, RunRecord, RunUpdate
from shared.ids import new_id

LEASE_EXPIRED = "lease expired"

COLUMNS = """id, conversation_id AS thread_id, status, fencing_token, created_at,
    started_at, finished_at, error, worker"""

LOCK_THREAD = "SELECT id FROM conversations WHERE id = $1 AND user_id = $2 FOR UPDATE"

# A separate statement after the lock: it sees runs committed while we waited.
ACTIVE_RUN = """
SELECT id, lease_expires_at > now() AS live FROM runs
WHERE conversation_id = $1 AND user_id = $2 AND status IN ('queued', 'running')
"""

EXPIRE = """
UPDATE runs SET status = 'failed', error = $3, finished_at = now()
WHERE id = $1 AND user_id = $2
"""

# The conversation's counter makes the fencing token: strictly increasing per thread.
INSERT = f"""
WITH conv AS (
    UPDATE conversations SET run_counter = run_counter + 1, updated_at = now()
    WHERE id = $2 AND user_id = $3
    RETURNING id, run_counter
)
INSERT INTO runs (id, conversation_id, user_id, status, fencing_token, lease_expires_at)
SELECT $1, conv.id, $3, 'queued', conv.run_counter, now() + make_interval(secs => $4)
FROM conv
RETURNING {COLUMNS}
"""

GET = f"SELECT {COLUMNS} FROM runs WHERE id = $1 AND user_id = $2"

# A run moves queued -> running -> final, or queued -> final; never back.
# Going to running restarts the lease clock, so queue time does not eat it.
UPDATE = f"""
UPDATE runs SET
    status = $3,
    error = COALESCE($4, error),
    worker = COALESCE($5, worker),
    started_at = CASE WHEN $3 = 'running' THEN now() ELSE started_at END,
    finished_at = CASE WHEN $3 = 'running' THEN NULL ELSE now() END,
    lease_expires_at = CASE WHEN $3 = 'running'
        THEN now() + (lease_expires_at - created_at) ELSE lease_expires_at END
WHERE id = $1 AND user_id = $2 AND $3 <> 'queued'
  AND (status = 'queued' OR (status = 'running' AND $3 <> 'running'))
RETURNING {COLUMNS}
"""


def _busy() -> Conflict:
    return Conflict("thread_busy", "the thread already has an active run")


def _record(row: Record) -> RunRecord:
    return RunRecord.model_validate(dict(row))


async def _claim_thread(conn: Connection, user_id: str, thread_id: str) -> None:
    """Lock the thread; ``Conflict`` if a live run holds it, expire a stale one."""
    if await conn.fetchval(LOCK_THREAD, thread_id, user_id) is None:
        raise NotFound("thread")
    active = await conn.fetchrow(ACTIVE_RUN, thread_id, user_id)
    if active is None:
        return
    if active["live"]:
        raise _busy()
    await conn.execute(EXPIRE, active["id"], user_id, LEASE_EXPIRED)


async def _edit_items(conn: Connection, user_id: str, run: RunOpen) -> None:
    """Apply the run's item edits: truncate, delete, upsert, then add the user item.

    Truncating first keeps the new user item (created now, so after the anchor)
    out of its reach.
    """
    if run.truncate_after_item_id is not None:
        await items.delete_items_after(
            conn, user_id, run.thread_id, run.truncate_after_item_id
        )
    if run.delete_item_ids:
        await items.delete_items(conn, user_id, run.thread_id, run.delete_item_ids)
    for item in run.save_items:
        await items.save_edited_item(conn, user_id, run.thread_id, item)
    if run.user_item is not None:
        write = ItemWrite(item=run.user_item)
        await items.insert_item(conn, user_id, run.thread_id, write)


async def open_run(conn: Connection, user_id: str, run: RunOpen) -> RunRecord:
    """Store the new thread, the item edits and a new run, all in one transaction.

    Any failure (busy thread, unknown anchor, foreign item id) rolls it all back.
    """
    async with conn.transaction():
        if run.new_thread is not None:
            await threads.insert_thread(conn, user_id, run.new_thread)
        await _claim_thread(conn, user_id, run.thread_id)
        await _edit_items(conn, user_id, run)
        try:
            row = await conn.fetchrow(
                INSERT, new_id("run"), run.thread_id, user_id, float(run.lease_s)
            )
        except asyncpg.UniqueViolationError as exc:
            raise _busy() from exc
    if row is None:
        raise NotFound("thread")
    return _record(row)


async def get_run(db: Executor, user_id: str, run_id: str) -> RunRecord:
    """The user's run; ``NotFound`` otherwise."""
    row = await db.fetchrow(GET, run_id, user_id)
    if row is None:
        raise NotFound("run")
    return _record(row)


async def update_run(
    db: Executor, user_id: str, run_id: str, update: RunUpdate
) -> RunRecord:
    """Move a run on; ``Conflict`` if it already ended (or is running already)."""
    row = await db.fetchrow(
        UPDATE, run_id, user_id, update.status, update.error, update.worker
    )
    if row is not None:
        return _record(row)
    current = await get_run(db, user_id, run_id)
    raise Conflict("run_state", f"a {current.status} run cannot become {update.status}")
