"""Runs as first-class resources: status, resume, stop (``/chatkit/...``).

- ``GET  /chatkit/threads/{thread_id}/run``: the thread's active (else latest) run.
- ``GET  /chatkit/runs/{run_id}/events``: its events as SSE, from any point.
- ``POST /chatkit/threads/{thread_id}/cancel`` and ``/chatkit/runs/{run_id}/cancel``.

All scoped by the bearer's user: another user's run or thread is a 404.
"""

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel
from redis.exceptions import RedisError

from gateway.auth import CurrentUser
from gateway.cancel import CancelAnswer, cancel_run
from gateway.errors import ApiError
from gateway.protocol import ID_PATTERN
from gateway.resume import ResumeFormat, resume_after, run_events
from gateway.run_watch import lease_expired, reap_expired
from gateway.state import State, StateDep
from shared import run_log
from shared.events import RunStatus
from shared.history_api import ErrorBody, RunRecord
from shared.history_client import HistoryNotFound

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/chatkit", tags=["runs"])

ThreadId = Annotated[str, Path(pattern=ID_PATTERN)]
RunId = Annotated[str, Path(pattern=ID_PATTERN)]


class RunView(BaseModel):
    """A run's status and how far its events go."""

    run_id: str
    status: RunStatus
    last_seq: int
    """Sequence number of the run's latest event (live from its log while active)."""


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        404: "No such run (or thread without a run) for this user",
        422: "A malformed id, after or Last-Event-ID",
        503: "Storage or Redis unavailable; retry after Retry-After seconds",
    }
    return {s: {"model": ErrorBody, "description": text[s]} for s in statuses}


def _no_run(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what}: no run found")


@router.get(
    "/threads/{thread_id}/run",
    response_model=RunView,
    summary="The thread's active run, else its latest",
    responses=_errors(404, 422, 503),
)
async def thread_run(
    thread_id: ThreadId, user: CurrentUser, state: StateDep
) -> RunView:
    """Status and last sequence number; a run whose worker is gone is reaped first."""
    history = state["history"]
    try:
        run = await history.latest_run(user.id, thread_id)
        if lease_expired(run):
            await _reap(state)
            run = await history.get_run(user.id, run.id)
    except HistoryNotFound:
        raise _no_run(f"thread {thread_id}") from None
    return RunView(
        run_id=run.id, status=run.status, last_seq=await _last_seq(state, run)
    )


async def _reap(state: State) -> None:
    try:
        await reap_expired(state)
    except (RedisError, OSError) as exc:
        # The runs are failed in history; listeners end at their next check.
        log.warning("reap_log_end_failed", error=str(exc))


async def _last_seq(state: State, run: RunRecord) -> int:
    try:
        logged = await run_log.last_seq(state["redis"], run.id)
    except (RedisError, OSError):
        return run.last_seq
    return max(run.last_seq, logged)


@router.get(
    "/runs/{run_id}/events",
    summary="Resume a run's events (SSE), replayed from its log then live",
    response_class=Response,
    responses={
        200: {
            "description": "SSE frames with `id: <seq>` lines. format=chatkit: ChatKit "
            "stream events; format=simple: `thread`, then simple events, then "
            "`[DONE]`. Ends with the run. Headers X-Run-Id and X-Thread-Id",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        204: {"description": "The run is over and the client has all its events"},
        **_errors(404, 422, 503),
    },
)
async def events(
    run_id: RunId,
    user: CurrentUser,
    state: StateDep,
    after: Annotated[
        int, Query(ge=0, description="last sequence number the client has")
    ] = 0,
    fmt: Annotated[ResumeFormat, Query(alias="format")] = "chatkit",
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="wins over `after`"),
    ] = None,
) -> Response:
    """Every event after ``Last-Event-ID`` (or ``after``), then live until the end."""
    return await run_events(
        state, user, run_id, resume_after(last_event_id, after), fmt
    )


@router.post(
    "/threads/{thread_id}/cancel",
    response_model=CancelAnswer,
    summary="Stop the thread's active run",
    responses=_errors(404, 422, 503),
)
async def cancel_thread_run(
    thread_id: ThreadId, user: CurrentUser, state: StateDep
) -> CancelAnswer:
    """Ask the active run to stop; a finished run is answered as it is."""
    try:
        run = await state["history"].latest_run(user.id, thread_id)
        return await cancel_run(state, user.id, run.id)
    except HistoryNotFound:
        raise _no_run(f"thread {thread_id}") from None


@router.post(
    "/runs/{run_id}/cancel",
    response_model=CancelAnswer,
    summary="Stop a run",
    responses=_errors(404, 422, 503),
)
async def cancel_by_id(
    run_id: RunId, user: CurrentUser, state: StateDep
) -> CancelAnswer:
    """Ask the run to stop; a finished run is answered as it is."""
    try:
        return await cancel_run(state, user.id, run_id)
    except HistoryNotFound:
        raise _no_run(f"run {run_id}") from None
