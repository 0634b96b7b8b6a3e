"""open_run(): store an op's input with a new run (durable first), subscribe, enqueue.

The order is the contract: history commits the thread, the user item, the
op's item edits and the run in one transaction; then the relay subscribes to
the run's channel; only then is the job enqueued (so no event can be published
before we listen) and the workers woken up.

A request with an ``Idempotency-Key`` that history has seen gets the first
run back (``reused``): nothing is stored or enqueued again, the stream
re-attaches to that run (``reattach``). ``run_for_key`` asks history first,
before any op's check; ``open_run`` still answers the first run when two
requests with one key race.
"""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
import structlog
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from chatkit.types import (
    Attachment,
    ThreadItem,
    ThreadMetadata,
    UserMessageInput,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)
from redis.exceptions import RedisError

from gateway.auth import User
from gateway.errors import RETRY_AFTER, ApiError
from gateway.relay import RelayUnavailableError
from gateway.state import State
from gateway.subscription import Subscription
from shared.history_api import RunKind, RunOpen, RunRecord, RunUpdate
from shared.history_client import HistoryConflict, HistoryError, HistoryNotFound
from shared.ids import new_id
from shared.jobs import RUN_AGENT_JOB, CustomActionOp, RespondOp, RunJob
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
    """A run that is stored, subscribed to and enqueued (or re-attached to)."""

    run: RunRecord
    thread_id: str
    new_thread: ThreadMetadata | None
    """The thread created with this run (``threads.create``, simple format)."""
    user_item: UserMessageItem | None
    """The new user message, for the ops that add one."""
    subscription: Subscription

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.id

    @property
    def reused(self) -> bool:
        """An earlier request with the same ``Idempotency-Key`` opened this run."""
        return self.run.reused


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
    thread_id: str,
    user_input: UserMessageInput,
    attachments: Sequence[Attachment],
    now: datetime,
) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=now,
        content=user_input.content,
        attachments=list(attachments),
        quoted_text=user_input.quoted_text,
        inference_options=user_input.inference_options,
    )


@dataclass(frozen=True)
class RunPlan:
    """What one streaming op stores (in the run's own commit) and asks of the worker."""

    thread_id: str
    new_thread: ThreadMetadata | None = None
    user_item: UserMessageItem | None = None
    save_items: Sequence[ThreadItem] = ()
    delete_item_ids: Sequence[str] = ()
    truncate_after_item_id: str | None = None
    op: RespondOp | CustomActionOp = field(default_factory=RespondOp)
    kind: RunKind = "add_user_message"

    def run_open(self, lease_s: int, idempotency_key: str | None) -> RunOpen:
        """The history request that stores all of it with the run, atomically."""
        return RunOpen(
            thread_id=self.thread_id,
            new_thread=self.new_thread,
            user_item=self.user_item,
            save_items=list(self.save_items),
            delete_item_ids=list(self.delete_item_ids),
            truncate_after_item_id=self.truncate_after_item_id,
            lease_s=lease_s,
            kind=self.kind,
            idempotency_key=idempotency_key,
        )


def message_plan(
    thread_id: str | None,
    user_input: UserMessageInput,
    attachments: Sequence[Attachment] = (),
) -> RunPlan:
    """A new user message; ``thread_id`` None creates the thread with it.

    ``attachments`` are the input's attachments, already loaded and checked.
    """
    now = datetime.now(UTC)
    new_thread = None
    if thread_id is None:
        thread_id = new_id("thr")
        title = title_from(message_text(user_input))
        new_thread = ThreadMetadata(id=thread_id, title=title, created_at=now)
    attached = [a.model_copy(update={"thread_id": thread_id}) for a in attachments]
    item = _user_item(thread_id, user_input, attached, now)
    kind: RunKind = "create" if new_thread is not None else "add_user_message"
    return RunPlan(
        thread_id=thread_id, new_thread=new_thread, user_item=item, kind=kind
    )


async def open_run(
    state: State,
    user: User,
    plan: RunPlan,
    request_id: str,
    idempotency_key: str | None = None,
) -> StartedRun:
    """Store the plan with a new run, subscribe to the run, then enqueue its job."""
    lease_s = state["settings"].gateway_queued_lease_s
    opening = plan.run_open(lease_s, idempotency_key)
    try:
        run = await state["history"].open_run(user.id, opening)
    except HistoryConflict:
        raise ThreadBusyError(plan.thread_id) from None
    if run.reused:
        return await _reattached(state, run)
    structlog.contextvars.bind_contextvars(run_id=run.id, thread_id=run.thread_id)
    job = RunJob(
        run_id=run.id,
        thread_id=plan.thread_id,
        user_id=user.id,
        request_id=request_id,
        enqueued_at=datetime.now(UTC),
        op=plan.op,
    )
    subscription = await _subscribe_and_enqueue(state, user, job)
    return StartedRun(
        run, plan.thread_id, plan.new_thread, plan.user_item, subscription
    )


async def run_for_key(state: State, user: User, key: str) -> StartedRun | None:
    """The run an earlier request with this ``Idempotency-Key`` opened, subscribed
    to (``reused``); None if the key is new.

    Asked before a follow-up op is checked: once the first request's edits are
    stored (the tool call completed, the input answered), the retry would fail
    the check that the first one passed.
    """
    try:
        run = await state["history"].run_by_idempotency_key(user.id, key)
    except HistoryNotFound:
        return None
    return await _reattached(state, run.model_copy(update={"reused": True}))


async def _reattached(state: State, run: RunRecord) -> StartedRun:
    structlog.contextvars.bind_contextvars(run_id=run.id, thread_id=run.thread_id)
    log.info("run_reattached", kind=run.kind, status=run.status)
    subscription = await _subscribe(state, run.id)
    return StartedRun(run, run.thread_id, None, None, subscription)


async def start_simple(
    state: State,
    user: User,
    thread_id: str | None,
    user_input: UserMessageInput,
    request_id: str,
    idempotency_key: str | None = None,
) -> StartedRun:
    """Open a simple-format run; ``thread_id`` None creates the thread."""
    plan = replace(message_plan(thread_id, user_input), kind="simple")
    return await open_run(state, user, plan, request_id, idempotency_key)


async def _subscribe(state: State, run_id: str) -> Subscription:
    try:
        return await state["relay"].subscribe(run_id)
    except RelayUnavailableError:
        raise _queue_unavailable() from None


async def _subscribe_and_enqueue(state: State, user: User, job: RunJob) -> Subscription:
    run_id = job.run_id
    try:
        subscription = await state["relay"].subscribe(run_id)
    except RelayUnavailableError as exc:
        await _fail_run(state, user, run_id, exc)
        raise _queue_unavailable() from None
    queue = state["settings"].queue_name
    try:
        enqueued = await _enqueue_and_wake(state, job)
    except (RedisError, OSError) as exc:
        subscription.close()
        await _fail_run(state, user, run_id, exc)
        raise _queue_unavailable() from None
    if not enqueued:
        # arq holds a job with this id: history minted a run id twice.
        log.error("run_already_enqueued", queue=queue)
    log.info("run_enqueued", queue=queue, op=job.op.type)
    return subscription


async def _enqueue_and_wake(state: State, job: RunJob) -> bool:
    """Queue the run's arq job and wake the workers (see `enqueue_and_wake`)."""
    return await enqueue_and_wake(
        state["arq"],
        state["settings"].queue_name,
        job.run_id,
        job.model_dump(mode="json"),
    )


async def enqueue_and_wake(
    arq: ArqRedis, queue: str, job_id: str, payload: object
) -> bool:
    """Queue an arq job of ``RUN_AGENT_JOB`` and wake the workers, in one Redis
    round trip; False if a job with this id exists already (it is left as it is).

    arq's ``enqueue_job`` spends three round trips (WATCH, EXISTS, MULTI) on
    a duplicate check that a fresh run id does not need, and the wake-up a
    fourth: this writes what it writes (job key, queue entry) with NX instead.
    """
    now_ms = timestamp_ms()
    data = serialize_job(
        RUN_AGENT_JOB, (payload,), {}, None, now_ms, serializer=arq.job_serializer
    )
    async with arq.pipeline(transaction=True) as pipe:
        pipe.set(job_key_prefix + job_id, data, px=arq.expires_extra_ms, nx=True)
        pipe.zadd(queue, {job_id: now_ms}, nx=True)
        pipe.publish(queue_wakeup_channel(queue), job_id)
        stored, _, _ = await pipe.execute()
    return bool(stored)


async def wake_workers(state: State, job_id: str) -> None:
    """Tell idle workers a job is queued, so none waits for arq's poll."""
    queue = state["settings"].queue_name
    try:
        await state["redis"].publish(queue_wakeup_channel(queue), job_id)
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
        503,
        "queue_unavailable",
        "the run queue is unavailable; retry later",
        RETRY_AFTER,
    )
