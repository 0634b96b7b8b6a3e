"""The response of a stream that follows a run: headers, resume point, disconnects.

Every streaming response names its run (``X-Run-Id``) and thread
(``X-Thread-Id``), so a client can resume (``GET /chatkit/runs/{id}/events``),
poll (``GET /chatkit/threads/{id}/run``) or stop it from any gateway. With
ON_DISCONNECT=cancel a client that goes away before the run's end cancels the
run (the SDK's behaviour); by default the run goes on and is stored.
"""

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from gateway.cancel import cancel_in_background
from gateway.errors import RETRY_AFTER, ApiError
from gateway.run_watch import RunMessage, RunWatch, is_active, missing_end
from gateway.sse import sse_response
from gateway.state import State
from gateway.subscription import Subscription
from shared import run_log
from shared.events import RunEnded
from shared.history_api import RunRecord

RUN_ID_HEADER = "X-Run-Id"
THREAD_ID_HEADER = "X-Thread-Id"


def run_headers(run_id: str, thread_id: str) -> dict[str, str]:
    """The headers naming a stream's run and thread."""
    return {RUN_ID_HEADER: run_id, THREAD_ID_HEADER: thread_id}


def watch(state: State, user_id: str, run_id: str) -> RunWatch:
    """The quiet-interval check of a stream of this run."""
    return RunWatch(state, user_id, run_id)


async def read_log(
    state: State, run: RunRecord, after: int, subscription: Subscription
) -> list[RunMessage]:
    """The run's logged messages after ``after``; read after subscribing.

    A finished run's messages end with its end (made up from the stored status
    when the log no longer has it), unless the client has the end already.
    The subscription is closed if the log cannot be read (the request then
    fails with a 503).
    """
    try:
        if is_active(run):
            logged = await run_log.read_after(state["redis"], run.id, after)
        elif await _has_end(state, run, after):
            logged = []
        else:
            logged = await missing_end(state, run, after)
    except (RedisError, OSError):
        subscription.close()
        raise ApiError(
            503, "queue_unavailable", "the run log is unavailable", RETRY_AFTER
        ) from None
    except BaseException:
        subscription.close()
        raise
    # Live copies of the replayed messages are not queued again (nor refilled
    # from the log after a relay reconnect).
    subscription.skip_through(max([after, *(message.seq for message in logged)]))
    return logged


async def _has_end(state: State, run: RunRecord, after: int) -> bool:
    """Whether a client that has everything up to ``after`` already got the end."""
    if after == 0:
        return False
    logged = await run_log.read_after(state["redis"], run.id, after - 1)
    if not logged:
        # The log is gone: past the recorded last event, the end was seen too.
        return after > run.last_seq
    return logged[0].seq == after and isinstance(logged[0], RunEnded)


def run_response(
    state: State,
    user_id: str,
    run: RunRecord,
    frames: AsyncIterator[bytes],
    *,
    owner: bool = True,
) -> StreamingResponse:
    """The SSE response of a stream of ``run``.

    ``owner``: the stream that started (or re-attached to) the run; only such
    a stream's client going away cancels it under ON_DISCONNECT=cancel.
    """
    if owner and state["settings"].on_disconnect == "cancel":
        frames = _cancel_on_disconnect(frames, state, user_id, run.id)
    return sse_response(frames, run_headers(run.id, run.thread_id))


async def _cancel_on_disconnect(
    frames: AsyncIterator[bytes], state: State, user_id: str, run_id: str
) -> AsyncIterator[bytes]:
    finished = False
    try:
        async for frame in frames:
            yield frame
        finished = True
    finally:
        if not finished:
            # Cancelled or closed mid-stream: the client went away.
            cancel_in_background(state, user_id, run_id)
