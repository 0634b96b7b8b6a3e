"""``/v1/runs``: open a run durable-first, read it (by id or idempotency key),
claim it, move it along, keep it alive (one, or a worker's batch of every
user's runs), flag it to stop; the thread's latest run; the internal reap
sweep."""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from history.deps import (
    MAX_ID_LENGTH,
    IdPath,
    PoolDep,
    SettingsDep,
    UserId,
    check_id,
)
from history.errors import ApiError
from history.store import reaper, runs
from shared.history_api import (
    ExpiredRuns,
    RunClaim,
    RunClaimed,
    RunHeartbeat,
    RunHeartbeats,
    RunHeartbeatsAnswer,
    RunOpen,
    RunRecord,
    RunUpdate,
)

router = APIRouter(tags=["runs"])

# A lease longer than this is a mistake (a day of one agent turn).
MAX_LEASE_S = 86_400

KeyPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
"""An idempotency key in the URL (percent-encoded: a key may hold a slash)."""


def _check_open(body: RunOpen) -> None:
    if body.new_thread is not None and body.new_thread.id != body.thread_id:
        raise ApiError(422, "id_mismatch", "new_thread.id differs from thread_id")
    check_id(body.thread_id, "thread_id")
    if body.user_item is not None:
        check_id(body.user_item.id, "user_item.id")
    for n, item in enumerate(body.save_items):
        check_id(item.id, f"save_items.{n}.id")
    if not 1 <= body.lease_s <= MAX_LEASE_S:
        raise ApiError(422, "invalid_lease", f"lease_s must be 1..{MAX_LEASE_S}")
    if body.idempotency_key == "":
        raise ApiError(422, "invalid_idempotency_key", "idempotency_key is empty")


@router.post(
    "/runs",
    status_code=201,
    responses={200: {"model": RunRecord, "description": "Reused: the key's run"}},
)
async def open_run(
    body: RunOpen, user_id: UserId, pool: PoolDep, response: Response
) -> RunRecord:
    """Store the thread, user item and item edits and open a run in one commit.

    201 with the new run; 200 with the earlier run (``reused``, nothing written)
    when the idempotency key is the user's already. 404 if the thread or the
    truncation anchor is not the user's; 409 if the thread is busy or a saved
    item id belongs to another thread.
    """
    _check_open(body)
    async with pool.acquire() as conn:
        run = await runs.open_run(conn, user_id, body)
    if run.reused:
        response.status_code = 200
    return run


@router.post("/runs/reap")
async def reap_expired_runs(pool: PoolDep) -> ExpiredRuns:
    """Fail every user's queued or running run whose lease expired; list them.

    Internal (no user): each expired run is in exactly one sweep's answer.
    """
    return ExpiredRuns(data=await reaper.reap_expired_runs(pool))


@router.post("/runs/heartbeats")
async def heartbeats(body: RunHeartbeats, pool: PoolDep) -> RunHeartbeatsAnswer:
    """A worker's heartbeat for all its runs: each run's lease extended to at
    least now + ``lease_s`` as by ``/runs/{run_id}/heartbeat``.

    Each entry names its user (a worker holds many users' runs) and is
    answered in order: its new lease and ``cancel_requested``, or ``lost``
    where the single heartbeat would answer 409 or 404.
    """
    for n, beat in enumerate(body.runs):
        check_id(beat.run_id, f"runs.{n}.run_id")
        check_id(beat.user_id, f"runs.{n}.user_id")
    return await runs.heartbeats(pool, body)


@router.get("/runs/by-key/{idempotency_key:path}")
async def run_by_idempotency_key(
    idempotency_key: KeyPath, user_id: UserId, pool: PoolDep
) -> RunRecord:
    """The user's run opened with this ``RunOpen.idempotency_key``; 404 if none.

    A gateway asks before it checks a retried request against the thread: the
    first request's edits may have changed what that check sees.
    """
    return await runs.run_by_key(pool, user_id, idempotency_key)


@router.get("/runs/{run_id}")
async def get_run(run_id: IdPath, user_id: UserId, pool: PoolDep) -> RunRecord:
    """One of the user's runs."""
    return await runs.get_run(pool, user_id, run_id)


@router.patch("/runs/{run_id}")
async def update_run(
    run_id: IdPath,
    body: RunUpdate,
    user_id: UserId,
    pool: PoolDep,
    settings: SettingsDep,
) -> RunRecord:
    """Mark a run running (lease: `lease_s`, else the history default) or finished.

    409 ``run_state`` if it cannot move so, 409 ``stale_run`` if the fencing
    token is given and no longer holds the thread.
    """
    lease_s = body.lease_s or settings.history_running_lease_s
    return await runs.update_run(pool, user_id, run_id, body, lease_s)


@router.post("/runs/{run_id}/claim")
async def claim_run(
    run_id: IdPath, body: RunClaim, user_id: UserId, pool: PoolDep
) -> RunClaimed:
    """A worker's pickup: a queued run becomes running (lease ``lease_s``),
    answered with its thread and first items, all in one transaction.

    409 ``run_state`` (detail: the current RunRecord as JSON) unless the run is
    queued with a live lease; 404 if it is not the user's.
    """
    return await runs.claim_run(pool, user_id, run_id, body)


@router.post("/runs/{run_id}/heartbeat")
async def heartbeat(
    run_id: IdPath, body: RunHeartbeat, user_id: UserId, pool: PoolDep
) -> RunRecord:
    """Extend a live run's lease to at least now + ``lease_s``.

    409 ``stale_run`` once the token no longer holds the thread (wrong token,
    run over, lease expired). The answer carries ``cancel_requested``.
    """
    return await runs.heartbeat(pool, user_id, run_id, body)


@router.post("/runs/{run_id}/cancel")
async def request_cancel(run_id: IdPath, user_id: UserId, pool: PoolDep) -> RunRecord:
    """Flag an active run to stop (the worker stops it); a finished run is unchanged."""
    return await runs.request_cancel(pool, user_id, run_id)


@router.get("/threads/{thread_id}/runs/latest")
async def latest_run(thread_id: IdPath, user_id: UserId, pool: PoolDep) -> RunRecord:
    """The thread's active run, else its newest; 404 if it never had one."""
    return await runs.latest_run(pool, user_id, thread_id)
