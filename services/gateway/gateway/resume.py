"""``GET /chatkit/runs/{run_id}/events``: a run's events from any point, on any gateway.

Subscribe first, then read the log: a message published in between is in
both, and the stream drops the second copy by its sequence number, so there is
no gap and no duplicate. The log is replayed after the client's last event id,
then the stream continues live until the run's end. Frames carry ``id:`` lines
in both formats. A finished run with nothing left to send answers 204, which
also stops an EventSource from reconnecting.
"""

from typing import Literal

from fastapi import Response

from gateway.auth import User
from gateway.errors import ApiError
from gateway.relay import RelayUnavailableError
from gateway.run_stream import read_log, run_response, watch
from gateway.run_watch import is_active
from gateway.simple_format import SimpleMapper, simple_frames
from gateway.sse import Resume, chatkit_frames
from gateway.state import State
from gateway.subscription import Subscription
from shared.history_client import HistoryNotFound

ResumeFormat = Literal["chatkit", "simple"]


def resume_after(last_event_id: str | None, after: int) -> int:
    """Where to resume: ``Last-Event-ID`` wins over ``?after=``."""
    if last_event_id is None or not last_event_id.strip():
        return after
    value = last_event_id.strip()
    if not value.isdigit():
        raise ApiError(
            422, "invalid_request", "Last-Event-ID: not an event sequence number"
        )
    return int(value)


async def _subscribe(state: State, run_id: str) -> Subscription:
    try:
        return await state["relay"].subscribe(run_id)
    except RelayUnavailableError:
        raise ApiError(
            503, "queue_unavailable", "the run's events are unavailable; retry later"
        ) from None


async def run_events(
    state: State, user: User, run_id: str, after: int, fmt: ResumeFormat
) -> Response:
    """The run's events after ``after`` as SSE, replayed then live."""
    try:
        run = await state["history"].get_run(user.id, run_id)
    except HistoryNotFound:
        raise ApiError(404, "not_found", f"run {run_id} not found") from None
    subscription = await _subscribe(state, run_id)
    mapper: SimpleMapper | None = None
    if fmt == "chatkit":
        replay = await read_log(state, run, after, subscription)
    else:
        # From the start: the mapper must know what the client already got.
        logged = await read_log(state, run, 0, subscription)
        mapper = SimpleMapper()
        mapper.prime(message for message in logged if message.seq <= after)
        replay = [message for message in logged if message.seq > after]
    if not replay and not is_active(run):
        subscription.close()
        return Response(status_code=204)
    keepalive_s = state["settings"].gateway_keepalive_s
    resume, on_quiet = Resume(replay, after), watch(state, user.id, run_id)
    if mapper is None:
        frames = chatkit_frames(
            [], subscription, keepalive_s, resume=resume, on_quiet=on_quiet, ids=True
        )
    else:
        frames = simple_frames(
            run.thread_id, subscription, keepalive_s, run_id=run.id,
            resume=resume, on_quiet=on_quiet, mapper=mapper,
        )  # fmt: skip
    return run_response(state, user.id, run, frames, owner=False)
