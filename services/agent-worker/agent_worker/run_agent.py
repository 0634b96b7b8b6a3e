"""The arq job: one agent turn, from a RunJob to a finished run record.

Load the thread, then by the job's op: run the agent on its stored items
(`RespondOp`), or run the app's action handler (`CustomActionOp`). Either way,
translate the stream to our events, persist every done/replaced/removed item
through history BEFORE publishing it, and end with RunEnded.

The run is leased: pickup claims it (one history call moves it to running and
answers its thread and items; a refused claim skips the job), a guard task
heartbeats it, and every item write carries the fence. A heartbeat or
write answered 409 means the run is no longer ours: the turn stops at once and
writes and publishes nothing more (the reaper of whoever finds the lease
expired ends its stream). A cancel (control channel message, cancel key, or
the heartbeat's persisted flag) stops the model, stores the partial assistant
messages (published as done) and chatkit's hidden "cancelled" note, then ends
the run `cancelled`.

A `CustomStreamError` / `StreamError` raised by the app is the app's answer,
as in `ChatKitServer`: its ChatKit error event, then a completed run. Any other
failure becomes a generic error event (never the provider's text), a failed
run record and RunEnded(status="failed").
"""

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from chatkit.errors import BaseStreamError
from chatkit.types import (
    DurationSummary,
    ErrorEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
    WorkflowItem,
)

from shared.events import RunStatus
from shared.history_api import RunUpdate, ToolCallRecord
from shared.jobs import RunJob

from .lease import Lease
from .pending_messages import PendingMessages
from .publisher import RunPublisher
from .redaction import redacted_error, worker_secrets
from .resources import RESOURCES_KEY, WorkerResources
from .run_end import cancelled_note, error_event, fail_unloaded
from .run_guard import RunGuard, StopReason
from .run_writes import LeaseLostError, RunWriter
from .tool_activity import ToolActivityHooks
from .translate import Outgoing, Translator, as_utc
from .turn_sources import Loaded, NotClaimedError, TurnSource, load
from .turn_store import TurnStore

HIDDEN_TYPES = frozenset({"hidden_context_item", "sdk_hidden_context"})
HALT_GRACE_S = 2.0
"""After asking the SDK to stop, how long its stream may take to end by itself."""

JobOutcome = Literal["completed", "failed", "cancelled", "lost", "skipped"]

log = structlog.get_logger("agent_worker.run_agent")


async def run_agent(ctx: dict[str, Any], payload: object) -> JobOutcome:
    """arq job function: run the turn described by a RunJob (JSON or dict)."""
    job = parse_job(payload)
    resources: WorkerResources = ctx[RESOURCES_KEY]
    with structlog.contextvars.bound_contextvars(
        run_id=job.run_id, thread_id=job.thread_id, request_id=job.request_id
    ):
        return await run_turn(resources, job)


def parse_job(payload: object) -> RunJob:
    """The RunJob in an arq payload."""
    if isinstance(payload, str | bytes):
        return RunJob.model_validate_json(payload)
    return RunJob.model_validate(payload)


async def run_turn(resources: WorkerResources, job: RunJob) -> JobOutcome:
    """Run the turn unless its run was already handled."""
    try:
        try:
            loaded = await load(resources, job)
        except NotClaimedError as refusal:
            log.warning("run skipped", status=refusal.status)
            return "skipped"
        except Exception as error:
            await fail_unloaded(resources, job, error)
            return "failed"
        pickup_ms = (datetime.now(UTC) - job.enqueued_at).total_seconds() * 1000
        log.info("run started", op=job.op.type, pickup_ms=round(pickup_ms, 2))
        return await Turn(resources, job, loaded).run()
    finally:
        resources.control.unwatch(job.run_id)


class Turn:
    """One run's state: lease, publisher, translator, tool hooks and held items."""

    def __init__(self, resources: WorkerResources, job: RunJob, loaded: Loaded) -> None:
        settings = resources.settings
        self._resources = resources
        self._job = job
        self._loaded = loaded
        self._lease = Lease(job.run_id, loaded.run.fencing_token)
        # The claim granted the first lease.
        self._lease.renew(
            settings.worker_lease_s, loaded.claimed_at, loaded.run.lease_expires_at
        )
        self._writer = RunWriter(
            resources.history,
            user_id=job.user_id,
            thread_id=job.thread_id,
            lease=self._lease,
            budget_s=settings.worker_write_retry_s,
        )
        self._publisher = RunPublisher(
            resources.redis,
            job.run_id,
            coalesce_s=settings.worker_coalesce_ms / 1000,
            log_maxlen=settings.run_log_maxlen,
            log_ttl_s=settings.run_log_ttl_s,
            lease=self._lease,
        )
        self._guard = RunGuard(
            resources.heartbeats,
            user_id=job.user_id,
            lease=self._lease,
            cancel=loaded.cancel,
            on_stop=self._stop,
        )
        self._hooks = ToolActivityHooks()
        self._translator = Translator(self._hooks)
        self._store = TurnStore.for_turn(resources.history)
        self._source = TurnSource(
            resources, job, loaded, store=self._store, hooks=self._hooks
        )
        self._pending = PendingMessages()
        self._stored_calls: dict[str, list[ToolCallRecord]] = {
            record.item.id: record.tool_calls
            for record in loaded.records
            if record.tool_calls
        }
        """Tool calls already stored on items of earlier turns, by item id."""
        self._guarding: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._busy = False
        """An event is being persisted and published: never cut that short."""
        self._stop_reason: StopReason | None = None

    async def run(self) -> JobOutcome:
        """Stream the op's events to the end, a cancel, or a lost lease.

        Never raises, except on the job's own cancellation (timeout, shutdown).
        """
        if self._loaded.cancel.is_set() or self._loaded.run.cancel_requested:
            self._stop("cancelled")
        self._guarding = asyncio.create_task(self._guard.run())
        try:
            error = await self._consume() if self._stop_reason is None else None
            return await self._finish(error)
        except asyncio.CancelledError as error:
            with contextlib.suppress(LeaseLostError):
                await self._fail(error)
            raise
        finally:
            await self._stop_guard()
            await self._publisher.aclose()

    async def _stop_guard(self) -> None:
        """No more heartbeats: the run is ending (a heartbeat racing the final
        update would be refused and cost the run its RunEnded)."""
        guarding = self._guarding
        if guarding is not None:
            guarding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await guarding

    def _stop(self, reason: StopReason) -> None:
        """Stop the turn for `reason`; a lost lease overrides a cancel."""
        if self._stop_reason in (reason, "lost"):
            return
        first = self._stop_reason is None
        self._stop_reason = reason
        log.info("run stopping", reason=reason)
        if first:
            self._halt()

    def _halt(self) -> None:
        """Stop producing events: the model through the SDK, anything else by
        cancelling the consumer (between two events, never during one)."""
        result = self._source.result
        if result is not None:
            result.cancel()
            loop = asyncio.get_running_loop()
            loop.call_later(HALT_GRACE_S, self._cut_consumer)
        else:
            self._cut_consumer()

    def _cut_consumer(self) -> None:
        consumer = self._consumer
        if consumer is not None and not consumer.done() and not self._busy:
            consumer.cancel()

    async def _consume(self) -> BaseException | None:
        """Run the stream in its own task, so that a stop can cut it short."""
        self._consumer = asyncio.create_task(self._stream())
        try:
            await self._consumer
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._stop_reason is None or (task is not None and task.cancelling()):
                raise
        except LeaseLostError:
            self._stop("lost")
        except Exception as error:
            return error
        finally:
            result = self._source.result
            if result is not None and not result.is_complete:
                # The consumer is gone (an error or a stop): so is the model call.
                result.cancel()
        return None

    async def _stream(self) -> None:
        try:
            async with contextlib.aclosing(self._source.events()) as events:
                async for event in events:
                    if self._stop_reason is not None:
                        return
                    await self._handle(event)
                    if self._stop_reason is not None:
                        return
            await self._handle(None)
        except BaseStreamError as error:
            # The app's own answer, sent as ChatKitServer sends it.
            log.info("run answered with an error", error_type=type(error).__name__)
            await self._handle(error_event(error))

    async def _handle(self, event: ThreadStreamEvent | None) -> None:
        """Persist and publish one event (None: only what chatkit holds)."""
        self._busy = True
        try:
            # Items chatkit wrote to the store directly come before this event.
            await self._emit_held()
            if event is not None:
                for outgoing in self._translator.translate(event):
                    await self._emit(outgoing)
        finally:
            self._busy = False

    async def _finish(self, error: BaseException | None) -> JobOutcome:
        try:
            match self._stop_reason:
                case "lost":
                    raise LeaseLostError("stopped")
                case "cancelled":
                    await self._cancelled()
                    return "cancelled"
                case None if error is not None:
                    await self._fail(error)
                    return "failed"
                case None:
                    await self._end("completed")
                    log.info("run completed", events=self._publisher.last_seq)
                    return "completed"
        except LeaseLostError:
            log.warning("run stopped: its lease is lost", reason=self._stop_reason)
            return "lost"

    async def _cancelled(self) -> None:
        """Keep what was said, add chatkit's hidden note, end as cancelled."""
        for item in self._pending.worth_keeping():
            await self._emit(Outgoing(ThreadItemDoneEvent(item=item)))
        await self._writer.add_item(cancelled_note(self._job.thread_id), [])
        await self._end("cancelled")
        log.info("run cancelled", events=self._publisher.last_seq)

    async def _emit_held(self) -> None:
        """Items chatkit added to the store directly: announce them as done.

        A workflow left open at the end of the turn is closed like chatkit does.
        """
        while self._store.held_items:
            item = self._store.held_items.pop(0)
            if isinstance(item, WorkflowItem) and item.workflow.summary is None:
                started = as_utc(item.created_at)
                seconds = int((datetime.now(UTC) - started).total_seconds())
                item.workflow.summary = DurationSummary(duration=seconds)
                item.workflow.expanded = False
            for outgoing in self._translator.translate(ThreadItemDoneEvent(item=item)):
                await self._emit(outgoing)

    async def _emit(self, outgoing: Outgoing) -> None:
        event = outgoing.event
        await self._persist(event)
        self._pending.track(event)
        if not _is_hidden(event):
            await self._publisher.publish(event, outgoing.tool)

    async def _persist(self, event: ThreadStreamEvent) -> None:
        match event:
            case ThreadItemDoneEvent(item=item):
                await self._writer.add_item(item, self._calls_for(item.id))
            case ThreadItemReplacedEvent(item=item):
                await self._writer.save_item(item, self._calls_for(item.id))
            case ThreadItemRemovedEvent(item_id=item_id):
                await self._writer.delete_item(item_id)
            case _:
                pass

    def _calls_for(self, item_id: str) -> list[ToolCallRecord]:
        """Stored calls of a workflow continued from an earlier turn, then new ones."""
        return self._stored_calls.get(item_id, []) + self._hooks.records_for(item_id)

    async def _fail(self, error: BaseException) -> None:
        """Log, publish a generic error, mark the run failed, publish RunEnded."""
        secrets = worker_secrets(self._resources.settings)
        log.error("run failed", **redacted_error(error, secrets))
        try:
            await self._publisher.publish(
                ErrorEvent(code="stream.error", allow_retry=True)
            )
        except Exception as publish_error:
            log.error(
                "publishing the error failed", **redacted_error(publish_error, secrets)
            )
        await self._end("failed", error=type(error).__name__)

    async def _end(self, status: RunStatus, error: str | None = None) -> None:
        """Record the final status, then publish RunEnded."""
        await self._stop_guard()
        await self._publisher.flush()
        # last_seq is the RunEnded's own number: the log's last entry.
        update = RunUpdate(
            status=status, error=error, last_seq=self._publisher.next_seq
        )
        try:
            await self._writer.update_run(update)
        except LeaseLostError:
            raise
        except Exception as failure:
            log.error(
                "recording the run's status failed", error_type=type(failure).__name__
            )
        await self._publisher.end(status)


def _is_hidden(event: ThreadStreamEvent) -> bool:
    # A class match, not getattr: a missing attribute on a pydantic model
    # raises inside pydantic, a cost paid on every text delta.
    match event:
        case (
            ThreadItemAddedEvent(item=item)
            | ThreadItemDoneEvent(item=item)
            | ThreadItemReplacedEvent(item=item)
        ):
            return item.type in HIDDEN_TYPES
        case _:
            return False
