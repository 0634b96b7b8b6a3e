"""Stop a run from any gateway: persisted flag, Redis key, pub/sub signal.

Three signals, because each can miss: history's ``cancel_requested`` (the
worker's heartbeat reads it), the ``run_cancel`` key (a worker that has not
subscribed yet checks it at pickup) and a message on ``run_control_channel``
(the fast path to the worker running the run). A finished run is left as it is.
"""

import asyncio

import httpx
import structlog
from pydantic import BaseModel
from redis.exceptions import RedisError

from gateway.run_watch import is_active
from gateway.state import State
from shared.events import RunStatus
from shared.history_api import RunRecord
from shared.history_client import HistoryError, HistoryNotFound
from shared.redis_keys import run_cancel, run_control_channel

log = structlog.get_logger(__name__)

CANCEL_MESSAGE = b"cancel"
"""Payload on ``run_control_channel``; the channel itself names the run."""

_background: set[asyncio.Task[None]] = set()


class CancelAnswer(BaseModel):
    """What a cancel request did: the run's status and whether a stop is pending."""

    run_id: str
    status: RunStatus
    """The run's status now; a finished run keeps its final status."""
    cancel_requested: bool
    """True while the run is active and asked to stop; False for a finished run."""


async def cancel_run(state: State, user_id: str, run_id: str) -> CancelAnswer:
    """Ask the run to stop (``HistoryNotFound`` if it is not the user's)."""
    run = await state["history"].request_cancel(user_id, run_id)
    if is_active(run):
        await _signal(state, run_id)
        log.info("run_cancel_requested", run_id=run_id)
    return answer_for(run)


def answer_for(run: RunRecord) -> CancelAnswer:
    """The cancel answer of a run as history returned it."""
    active = is_active(run)
    return CancelAnswer(
        run_id=run.id,
        status=run.status,
        cancel_requested=active and run.cancel_requested,
    )


async def _signal(state: State, run_id: str) -> None:
    redis = state["redis"]
    ttl_s = state["settings"].run_log_ttl_s
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(run_cancel(run_id), b"1", ex=ttl_s)
            pipe.publish(run_control_channel(run_id), CANCEL_MESSAGE)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        # The persisted flag still reaches the worker at its next heartbeat.
        log.warning("run_cancel_signal_failed", run_id=run_id, error=str(exc))


def cancel_in_background(state: State, user_id: str, run_id: str) -> None:
    """Cancel from code that cannot wait (a stream whose client went away)."""
    task = asyncio.create_task(_cancel_quietly(state, user_id, run_id))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _cancel_quietly(state: State, user_id: str, run_id: str) -> None:
    try:
        await cancel_run(state, user_id, run_id)
    except (HistoryError, HistoryNotFound, httpx.HTTPError) as exc:
        log.warning("run_cancel_failed", run_id=run_id, error=str(exc))
