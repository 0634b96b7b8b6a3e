"""Runs: open one (durable first, one active run per thread), read, move along.

Opening locks the conversation row (``SELECT ... FOR UPDATE``), so two
concurrent opens on one thread run one after the other and the second sees the
first's run; the partial unique index ``runs_one_active_per_conversation``
backs this up. An open with an idempotency key that already names a run of the
user answers that run (``reused``) and writes nothing.

A worker's writes carry the run's fencing token: an update or heartbeat is
refused (``stale_run``) once the token no longer holds the thread, that is when
it does not match, the run ended, or its lease ran out.
"""

import asyncpg
from asyncpg import Record
from chatkit.types import ThreadMetadata

from history.db import Connection, Executor, Pool
from history.store import items, threads
from history.store.errors import Conflict, NotFound, StaleRun
from shared.events import RunStatus
from shared.history_api import (
    ItemWrite,
    RunClaim,
    RunClaimed,
    RunHeartbeat,
    RunHeartbeats,
    RunHeartbeatsAnswer,
    RunOpen,
    RunRecord,
    RunUpdate,
    ThreadRecord,
)
from shared.ids import new_id

LEASE_EXPIRED = "lease expired"
ACTIVE_STATUSES: frozenset[RunStatus] = frozenset({"queued", "running"})
IDEMPOTENCY_INDEX = "runs_user_idempotency_key"

COLUMNS = """id, conversation_id AS thread_id, status, fencing_token, created_at,
    started_at, finished_at, error, worker, kind, user_item_id, lease_expires_at,
    cancel_requested_at IS NOT NULL AS cancel_requested, last_seq"""

LOCK_THREAD = "SELECT id FROM conversations WHERE id = $1 AND user_id = $2 FOR UPDATE"

# A separate statement after the lock: it sees runs committed while we waited.
ACTIVE_RUN = """
SELECT id, lease_expires_at > now() AS live FROM runs
WHERE conversation_id = $1 AND user_id = $2 AND status IN ('queued', 'running')
"""

EXPIRE = """
UPDATE runs SET status = 'failed', error = $3, finished_at = now()
WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running')
"""

# The conversation's counter makes the fencing token: strictly increasing per thread.
INSERT = f"""
WITH conv AS (
    UPDATE conversations SET run_counter = run_counter + 1, updated_at = now()
    WHERE id = $2 AND user_id = $3
    RETURNING id, run_counter
)
INSERT INTO runs (id, conversation_id, user_id, status, fencing_token,
    lease_expires_at, kind, user_item_id, idempotency_key)
SELECT $1, conv.id, $3, 'queued', conv.run_counter,
    now() + make_interval(secs => $4), $5, $6, $7
FROM conv
RETURNING {COLUMNS}
"""

GET = f"SELECT {COLUMNS} FROM runs WHERE id = $1 AND user_id = $2"

BY_IDEMPOTENCY_KEY = f"""
SELECT {COLUMNS} FROM runs WHERE user_id = $1 AND idempotency_key = $2
"""

# Opening a run fails (expires) the thread's previous active run first, so the
# newest run is the active one whenever there is one.
LATEST = f"""
SELECT {COLUMNS} FROM runs WHERE conversation_id = $1 AND user_id = $2
ORDER BY fencing_token DESC LIMIT 1
"""

# A run moves queued -> running -> final, or queued -> final; never back.
# Going to running restarts the lease clock with the running lease ($8), so
# queue time does not eat it. A fenced update ($6) needs a matching token and
# a live lease.
UPDATE = f"""
UPDATE runs SET
    status = $3,
    error = COALESCE($4, error),
    worker = COALESCE($5, worker),
    last_seq = GREATEST(last_seq, $7::bigint),
    started_at = CASE WHEN $3 = 'running' THEN now() ELSE started_at END,
    finished_at = CASE WHEN $3 = 'running' THEN NULL ELSE now() END,
    lease_expires_at = CASE WHEN $3 = 'running'
        THEN now() + make_interval(secs => $8) ELSE lease_expires_at END
WHERE id = $1 AND user_id = $2 AND $3 <> 'queued'
  AND (status = 'queued' OR (status = 'running' AND $3 <> 'running'))
  AND ($6::bigint IS NULL OR (fencing_token = $6 AND lease_expires_at > now()))
RETURNING {COLUMNS}
"""

# A claim is the pickup: only a queued run whose lease (its queue time) is
# still live moves to running, with the lease the worker asks for ($5). One
# statement (one round trip, atomic by itself) answers the run with its thread
# and the thread's first $3 items; no row: refused. The claimed run is the
# thread's active run by definition (the rest of the statement sees the row
# as it was: queued, also active).
#
# Its commit does not wait for the WAL flush (synchronous_commit off for this
# transaction only), which is most of a claim's time. Nothing can depend on
# a claim that is lost: the WAL is flushed in order, so the worker's first
# durable write (an item, a heartbeat, the run's end) makes the claim durable
# first; a database crash before that returns the run to queued, where its
# queue lease runs out and the reaper ends it.
CLAIM = f"""
WITH claimed AS (
    UPDATE runs SET
        status = 'running',
        worker = $4,
        started_at = now(),
        finished_at = NULL,
        lease_expires_at = now() + make_interval(secs => $5)
    WHERE id = $1 AND user_id = $2 AND status = 'queued' AND lease_expires_at > now()
    RETURNING {COLUMNS}
)
SELECT claimed.*, c.thread AS thread, c.updated_at AS thread_updated_at,
    {items.FIRST_PAGE_JSON} AS items,
    set_config('synchronous_commit', 'off', true) AS commit_without_flush
FROM claimed JOIN conversations c ON c.id = claimed.thread_id AND c.user_id = $2
"""
CLAIM_ITEMS = 1000
"""Items a claim answers with; the worker pages on for longer threads."""

# Never shortens a lease (a queued run's may be longer than a heartbeat's).
HEARTBEAT = f"""
UPDATE runs SET
    lease_expires_at = GREATEST(lease_expires_at, now() + make_interval(secs => $4))
WHERE id = $1 AND user_id = $2 AND fencing_token = $3
  AND status IN ('queued', 'running') AND lease_expires_at > now()
RETURNING {COLUMNS}
"""

# HEARTBEAT for many runs (of any users) at once, each answered in order;
# one the update skipped is lost (stale, over, expired, or not the user's).
HEARTBEATS = """
WITH beats AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
    WITH ORDINALITY AS b(run_id, user_id, fencing_token, n)
), renewed AS (
    UPDATE runs SET lease_expires_at = GREATEST(
        runs.lease_expires_at, now() + make_interval(secs => $4))
    FROM beats
    WHERE (runs.id, runs.user_id, runs.fencing_token)
        = (beats.run_id, beats.user_id, beats.fencing_token)
      AND runs.status IN ('queued', 'running') AND runs.lease_expires_at > now()
    RETURNING runs.id, runs.user_id, runs.fencing_token, runs.lease_expires_at,
        runs.cancel_requested_at IS NOT NULL AS cancel_requested
)
SELECT beats.run_id, renewed.id IS NULL AS lost, renewed.lease_expires_at,
    COALESCE(renewed.cancel_requested, false) AS cancel_requested
FROM beats LEFT JOIN renewed ON (renewed.id, renewed.user_id, renewed.fencing_token)
    = (beats.run_id, beats.user_id, beats.fencing_token)
ORDER BY beats.n
"""

# The first request's time stays; a finished run is left as it is.
CANCEL = f"""
UPDATE runs SET cancel_requested_at = COALESCE(cancel_requested_at, now())
WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running')
RETURNING {COLUMNS}
"""


def _busy() -> Conflict:
    return Conflict("thread_busy", "the thread already has an active run")


def record(row: Record, *, reused: bool = False) -> RunRecord:
    """A run row (selected as ``COLUMNS``) as the API's model."""
    return RunRecord.model_validate({**dict(row), "reused": reused})


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


async def _insert_run(conn: Connection, user_id: str, run: RunOpen) -> Record | None:
    try:
        return await conn.fetchrow(
            INSERT,
            new_id("run"),
            run.thread_id,
            user_id,
            float(run.lease_s),
            run.kind,
            run.user_item.id if run.user_item is not None else None,
            run.idempotency_key,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == IDEMPOTENCY_INDEX:
            raise Conflict("idempotency_key", "a run with this key exists") from exc
        raise _busy() from exc


async def _open_new(conn: Connection, user_id: str, run: RunOpen) -> RunRecord:
    async with conn.transaction():
        if run.new_thread is not None:
            # Just inserted, uncommitted: no other run can hold it.
            await threads.insert_thread(conn, user_id, run.new_thread)
        else:
            await _claim_thread(conn, user_id, run.thread_id)
        await _edit_items(conn, user_id, run)
        row = await _insert_run(conn, user_id, run)
    if row is None:
        raise NotFound("thread")
    return record(row)


async def _run_by_key(conn: Connection, user_id: str, key: str) -> RunRecord | None:
    row = await conn.fetchrow(BY_IDEMPOTENCY_KEY, user_id, key)
    return None if row is None else record(row, reused=True)


async def open_run(conn: Connection, user_id: str, run: RunOpen) -> RunRecord:
    """Store the new thread, the item edits and a new run, all in one transaction.

    Any failure (busy thread, unknown anchor, foreign item id) rolls it all back.
    A known idempotency key answers its run (``reused``), even on a busy thread.
    """
    key = run.idempotency_key
    if key is not None and (earlier := await _run_by_key(conn, user_id, key)):
        return earlier
    try:
        return await _open_new(conn, user_id, run)
    except Conflict:
        # A concurrent open with the same key committed first: this request
        # waited for it (thread lock or key index) and lost; answer its run.
        if key is not None and (earlier := await _run_by_key(conn, user_id, key)):
            return earlier
        raise


async def get_run(db: Executor, user_id: str, run_id: str) -> RunRecord:
    """The user's run; ``NotFound`` otherwise."""
    row = await db.fetchrow(GET, run_id, user_id)
    if row is None:
        raise NotFound("run")
    return record(row)


async def run_by_key(db: Executor, user_id: str, key: str) -> RunRecord:
    """The user's run opened with this idempotency key; ``NotFound`` otherwise."""
    row = await db.fetchrow(BY_IDEMPOTENCY_KEY, user_id, key)
    if row is None:
        raise NotFound("run")
    return record(row)


async def latest_run(db: Executor, user_id: str, thread_id: str) -> RunRecord:
    """The thread's active run, else its newest; ``NotFound`` if it has none."""
    row = await db.fetchrow(LATEST, thread_id, user_id)
    if row is None:
        raise NotFound("run")
    return record(row)


def _is_allowed_move(current: RunStatus, target: RunStatus) -> bool:
    return target != "queued" and (
        current == "queued" or (current == "running" and target != "running")
    )


def _refusal(current: RunRecord, update: RunUpdate) -> Conflict:
    """Why ``update`` did not apply to ``current``: stale token/lease, or the move."""
    if update.fencing_token is not None and (
        current.fencing_token != update.fencing_token
        or current.status not in ACTIVE_STATUSES
        # An allowed move by the right token on a live run only fails on the lease.
        or _is_allowed_move(current.status, update.status)
    ):
        return StaleRun()
    return Conflict(
        "run_state", f"a {current.status} run cannot become {update.status}"
    )


def _is_repeated_end(current: RunRecord, update: RunUpdate) -> bool:
    # A worker retries its final update when the answer was lost; the first landed.
    return (
        update.fencing_token == current.fencing_token
        and current.status == update.status
        and current.status not in ACTIVE_STATUSES
    )


async def update_run(
    db: Executor, user_id: str, run_id: str, update: RunUpdate, running_lease_s: int
) -> RunRecord:
    """Move a run on; ``Conflict`` if it cannot move so or its token is stale.

    Moving to ``running`` sets the lease to now + ``running_lease_s``.
    """
    row = await db.fetchrow(
        UPDATE,
        run_id,
        user_id,
        update.status,
        update.error,
        update.worker,
        update.fencing_token,
        update.last_seq,
        float(running_lease_s),
    )
    if row is not None:
        return record(row)
    current = await get_run(db, user_id, run_id)
    if _is_repeated_end(current, update):
        return current
    raise _refusal(current, update)


async def claim_run(
    pool: Pool, user_id: str, run_id: str, claim: RunClaim
) -> RunClaimed:
    """Move a queued run to running and read its thread and first items, in
    one statement; ``Conflict`` (``run_state``, the current record as its
    detail) unless the run is queued with a live lease."""
    row = await pool.fetchrow(
        CLAIM, run_id, user_id, CLAIM_ITEMS + 1, claim.worker, float(claim.lease_s)
    )
    if row is None:
        current = await get_run(pool, user_id, run_id)
        raise Conflict("run_state", current.model_dump_json())
    run = record(row)
    thread = ThreadRecord(
        thread=ThreadMetadata.model_validate(row["thread"]),
        updated_at=row["thread_updated_at"],
        active_run_id=run.id,
    )
    page = items.first_page(row["items"], CLAIM_ITEMS)
    return RunClaimed(run=run, thread=thread, items=page)


async def heartbeat(
    db: Executor, user_id: str, run_id: str, beat: RunHeartbeat
) -> RunRecord:
    """Extend a live run's lease; ``Conflict`` (stale) if the token lost the thread."""
    row = await db.fetchrow(
        HEARTBEAT, run_id, user_id, beat.fencing_token, float(beat.lease_s)
    )
    if row is not None:
        return record(row)
    await get_run(db, user_id, run_id)
    raise StaleRun()


async def heartbeats(db: Executor, batch: RunHeartbeats) -> RunHeartbeatsAnswer:
    """``heartbeat`` for each run (its own user's) at once; refused: ``lost``."""
    beats, lease_s = batch.runs, float(batch.lease_s)
    run_ids, tokens = [b.run_id for b in beats], [b.fencing_token for b in beats]
    user_ids = [b.user_id for b in beats]
    rows = await db.fetch(HEARTBEATS, run_ids, user_ids, tokens, lease_s)
    return RunHeartbeatsAnswer.model_validate({"data": [dict(r) for r in rows]})


async def request_cancel(db: Executor, user_id: str, run_id: str) -> RunRecord:
    """Flag an active run to stop; a finished run is answered unchanged."""
    row = await db.fetchrow(CANCEL, run_id, user_id)
    if row is not None:
        return record(row)
    return await get_run(db, user_id, run_id)
