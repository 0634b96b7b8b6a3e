"""``/v1/runs``: open a run durable-first, read it, move it along."""

from fastapi import APIRouter

from history.deps import IdPath, PoolDep, UserId, check_id
from history.errors import ApiError
from history.store import runs
from shared.history_api import RunOpen, RunRecord, RunUpdate

router = APIRouter(prefix="/runs", tags=["runs"])

# A lease longer than this is a mistake (a day of one agent turn).
MAX_LEASE_S = 86_400


def _check_ids(body: RunOpen) -> None:
    check_id(body.thread_id, "thread_id")
    if body.user_item is not None:
        check_id(body.user_item.id, "user_item.id")
    for n, item in enumerate(body.save_items):
        check_id(item.id, f"save_items.{n}.id")


@router.post("", status_code=201)
async def open_run(body: RunOpen, user_id: UserId, pool: PoolDep) -> RunRecord:
    """Store the thread, user item and item edits and open a run in one commit.

    404 if the thread or the truncation anchor is not the user's; 409 if the
    thread is busy or a saved item id belongs to another thread.
    """
    if body.new_thread is not None and body.new_thread.id != body.thread_id:
        raise ApiError(422, "id_mismatch", "new_thread.id differs from thread_id")
    _check_ids(body)
    if not 1 <= body.lease_s <= MAX_LEASE_S:
        raise ApiError(422, "invalid_lease", f"lease_s must be 1..{MAX_LEASE_S}")
    async with pool.acquire() as conn:
        return await runs.open_run(conn, user_id, body)


@router.get("/{run_id}")
async def get_run(run_id: IdPath, user_id: UserId, pool: PoolDep) -> RunRecord:
    """One of the user's runs."""
    return await runs.get_run(pool, user_id, run_id)


@router.patch("/{run_id}")
async def update_run(
    run_id: IdPath, body: RunUpdate, user_id: UserId, pool: PoolDep
) -> RunRecord:
    """Mark a run running or finished; 409 if it already ended."""
    return await runs.update_run(pool, user_id, run_id, body)
