"""start(): store the input and open a run (durable first), subscribe, enqueue.

The order is the contract: history commits the thread, the user item and the
run in one transaction; then the relay subscribes to the run's channel; only
then is the job enqueued (so no event can be published before we listen) and
the workers woken up.
"""

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from chatkit.types import (
    ThreadMetadata,
    UserMessageInput,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)
from redis.exceptions import RedisError

from gateway.auth import User
from gateway.errors import ApiError
from gateway.relay import RelayUnavailableError
from gateway.state import State
from gateway.subscription import Subscription
from shared.history_api import RunOpen, RunUpdate
from shared.history_client import HistoryConflict, HistoryError, HistoryNotFound
from shared.ids import new_id
from shared.jobs import RUN_AGENT_JOB, RunJob
from shared.redis_keys import queue_wakeup_channel

log = structlog.get_logger(__name__)

TITLE_MAX_CHARS = 60


class ThreadBusyError(Exception):
    """The thread already has an active run; nothing was stored."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id} has an active run")
        self.thread_id = thread_id


@dataclass(frozen=True)
class StartedRun:
    """A run that is stored, subscribed to and enqueued."""

    run_id: str
    thread_id: str
    new_thread: ThreadMetadata | None
    """The thread created with this run (``threads.create``, simple format)."""
    user_item: UserMessageItem
    subscription: Subscription


def message_text(user_input: UserMessageInput) -> str:
    """The user's words: text parts and tag labels in order."""
    parts: list[str] = []
    for part in user_input.content:
        match part:
            case UserMessageTextContent():
                parts.append(part.text)
            case UserMessageTagContent():
                parts.append(part.text)
    return "".join(parts)


def title_from(text: str, limit: int = TITLE_MAX_CHARS) -> str | None:
    """A thread title from the first message: one line, cut at a word boundary."""
    words = " ".join(text.split())
    if len(words) <= limit:
        return words or None
    window = words[: limit + 1]  # one more: a space right after the limit is a cut
    cut = window.rsplit(" ", 1)[0] if " " in window else ""
    if len(cut) < limit // 2:
        cut = words[:limit]  # one very long word: cut inside it
    return cut.rstrip(" ,.;:-") + "…"


def _user_item(
    thread_id: str, user_input: UserMessageInput, now: datetime
) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=now,
        content=user_input.content,
        attachments=[],
        quoted_text=user_input.quoted_text,
        inference_options=user_input.inference_options,
    )


async def start(
    state: State,
    user: User,
    thread_id: str | None,
    user_input: UserMessageInput,
    request_id: str,
) -> StartedRun:
    """Open a run for a new message; ``thread_id`` None creates the thread."""
    now = datetime.now(UTC)
    new_thread = None
    if thread_id is None:
        thread_id = new_id("thr")
        title = title_from(message_text(user_input))
        new_thread = ThreadMetadata(id=thread_id, title=title, created_at=now)
    item = _user_item(thread_id, user_input, now)
    opening = RunOpen(
        thread_id=thread_id,
        new_thread=new_thread,
        user_item=item,
        lease_s=state["settings"].gateway_run_lease_s,
    )
    try:
        run = await state["history"].open_run(user.id, opening)
    except HistoryConflict:
        raise ThreadBusyError(thread_id) from None
    structlog.contextvars.bind_contextvars(run_id=run.id, thread_id=thread_id)
    subscription = await _subscribe_and_enqueue(
        state, user, run.id, thread_id, request_id
    )
    return StartedRun(run.id, thread_id, new_thread, item, subscription)


async def _subscribe_and_enqueue(
    state: State, user: User, run_id: str, thread_id: str, request_id: str
) -> Subscription:
    try:
        subscription = await state["relay"].subscribe(run_id)
    except RelayUnavailableError as exc:
        await _fail_run(state, user, run_id, exc)
        raise _queue_unavailable() from None
    job = RunJob(
        run_id=run_id,
        thread_id=thread_id,
        user_id=user.id,
        request_id=request_id,
        enqueued_at=datetime.now(UTC),
    )
    queue = state["settings"].queue_name
    try:
        enqueued = await state["arq"].enqueue_job(
            RUN_AGENT_JOB,
            job.model_dump(mode="json"),
            _job_id=run_id,
            _queue_name=queue,
        )
    except (RedisError, OSError) as exc:
        subscription.close()
        await _fail_run(state, user, run_id, exc)
        raise _queue_unavailable() from None
    if enqueued is None:
        # arq found a job with this id: history minted a run id twice.
        log.error("run_already_enqueued", queue=queue)
    await _wake_workers(state, queue, run_id)
    log.info("run_enqueued", queue=queue)
    return subscription


async def _wake_workers(state: State, queue: str, run_id: str) -> None:
    try:
        await state["redis"].publish(queue_wakeup_channel(queue), run_id)
    except (RedisError, OSError) as exc:
        # The job is queued: arq's own poll still finds it, only later.
        log.warning("wakeup_publish_failed", error=str(exc))


async def _fail_run(state: State, user: User, run_id: str, exc: Exception) -> None:
    log.error("run_not_enqueued", error_type=type(exc).__name__, error=str(exc))
    update = RunUpdate(status="failed", error="the gateway could not enqueue the run")
    # Best effort: if this fails too, the run's lease frees the thread later.
    with contextlib.suppress(HistoryError, HistoryNotFound, httpx.HTTPError):
        await state["history"].update_run(user.id, run_id, update)


def _queue_unavailable() -> ApiError:
    return ApiError(
        503, "queue_unavailable", "the run queue is unavailable; retry later"
    )
