"""The arq job: one agent turn, from a RunJob to a finished run record.

Load the thread, then by the job's op: run the agent on its stored items
(`RespondOp`), or run the app's action handler (`CustomActionOp`). Either way,
translate the stream to our events, persist every done/replaced/removed item
through history BEFORE publishing it, and end with RunEnded.

A `CustomStreamError` / `StreamError` raised by the app is the app's answer,
as in `ChatKitServer`: its ChatKit error event, then a completed run. Any other
failure becomes a generic error event (never the provider's text), a failed
run record and RunEnded(status="failed").
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, assert_never

import structlog
from agents import Runner
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.errors import BaseStreamError, CustomStreamError, ErrorCode, StreamError
from chatkit.types import (
    DurationSummary,
    ErrorEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
    WidgetItem,
    WorkflowItem,
)

from shared.history_api import (
    ItemRecord,
    RunRecord,
    RunUpdate,
    ThreadRecord,
    ToolCallRecord,
)
from shared.history_client import HistoryConflict, HistoryNotFound
from shared.jobs import CustomActionOp, RespondOp, RunJob

from .agent_app import NO_ACTION_HANDLER
from .agent_input import build_agent_input
from .attachment_input import AttachmentParts
from .publisher import RunPublisher
from .redaction import redacted_error, worker_secrets
from .resources import RESOURCES_KEY, WorkerResources
from .tool_activity import ToolActivityHooks
from .translate import Outgoing, Translator, as_utc
from .turn_context import TurnAgentContext, TurnContext
from .turn_store import TurnStore

ITEMS_PAGE = 100
HIDDEN_TYPES = frozenset({"hidden_context_item", "sdk_hidden_context"})

JobOutcome = Literal["completed", "failed", "skipped"]

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
    turn = Turn(resources, job)
    try:
        loaded = await turn.load()
    except Exception as error:
        # A vanished run has no record left to mark; anything else gets marked.
        await turn.fail(error, record_run=not isinstance(error, HistoryNotFound))
        return "failed"
    if loaded.run.status != "queued":
        log.warning("run skipped", status=loaded.run.status)
        return "skipped"
    pickup_ms = (datetime.now(UTC) - job.enqueued_at).total_seconds() * 1000
    log.info("run started", op=job.op.type, pickup_ms=round(pickup_ms, 2))
    return await turn.run(loaded)


@dataclass(frozen=True)
class Loaded:
    """What a turn reads from history before it starts."""

    run: RunRecord
    thread: ThreadRecord
    records: list[ItemRecord]


class Turn:
    """One run's state: publisher, translator, tool hooks and held items."""

    def __init__(self, resources: WorkerResources, job: RunJob) -> None:
        settings = resources.settings
        self._resources = resources
        self._history = resources.history
        self._job = job
        self._publisher = RunPublisher(
            resources.redis,
            job.run_id,
            coalesce_s=settings.worker_coalesce_ms / 1000,
            log_maxlen=settings.run_log_maxlen,
            log_ttl_s=settings.run_log_ttl_s,
        )
        self._hooks = ToolActivityHooks()
        self._translator = Translator(self._hooks)
        self._store = TurnStore.for_turn(resources.history)
        self._marking: asyncio.Task[RunRecord] | None = None
        self._stored_calls: dict[str, list[ToolCallRecord]] = {}
        """Tool calls already stored on items of earlier turns, by item id."""

    async def load(self) -> Loaded:
        """The run, the thread and (to answer it) all its items, read concurrently."""
        job = self._job
        run, thread, records = await asyncio.gather(
            self._history.get_run(job.user_id, job.run_id),
            self._history.get_thread(job.user_id, job.thread_id),
            self._load_items() if isinstance(job.op, RespondOp) else _no_items(),
        )
        return Loaded(run=run, thread=thread, records=records)

    async def run(self, loaded: Loaded) -> JobOutcome:
        """Stream the op's events; never raises except on cancellation."""
        try:
            await self._stream_or_app_error(loaded)
        except asyncio.CancelledError as error:
            await self.fail(error)
            raise
        except Exception as error:
            await self.fail(error)
            return "failed"
        else:
            await self._record(RunUpdate(status="completed"))
            await self._publisher.end("completed")
            log.info("run completed", events=self._publisher.last_seq)
            return "completed"
        finally:
            await self._publisher.aclose()

    async def _stream_or_app_error(self, loaded: Loaded) -> None:
        try:
            await self._stream(loaded)
        except BaseStreamError as error:
            # The app's own answer, sent as ChatKitServer sends it.
            log.info("run answered with an error", error_type=type(error).__name__)
            await self._publisher.publish(error_event(error))

    async def _stream(self, loaded: Loaded) -> None:
        running = RunUpdate(
            status="running", worker=self._resources.settings.worker_name
        )
        # Marked in the background: the model call need not wait for history.
        self._marking = asyncio.create_task(
            self._history.update_run(self._job.user_id, self._job.run_id, running)
        )
        async for event in self._events(loaded):
            # Items chatkit wrote to the store directly come before this event.
            await self._emit_held()
            for outgoing in self._translator.translate(event):
                await self._emit(outgoing)
        await self._emit_held()
        await self._marking

    def _events(self, loaded: Loaded) -> AsyncIterator[ThreadStreamEvent]:
        op = self._job.op
        match op:
            case RespondOp():
                return self._respond(loaded)
            case CustomActionOp():
                return self._act(loaded, op)
            case _:
                assert_never(op)

    async def _respond(self, loaded: Loaded) -> AsyncIterator[ThreadStreamEvent]:
        """The agent's answer to the thread as stored."""
        self._stored_calls = {
            record.item.id: record.tool_calls
            for record in loaded.records
            if record.tool_calls
        }
        self._store.preload(self._job.thread_id, [r.item for r in loaded.records])
        attachments = AttachmentParts(self._resources.blobs, self._job.user_id)
        context = self._agent_context(loaded.thread)
        result = Runner.run_streamed(
            self._resources.app.agent,
            await build_agent_input(loaded.records, attachments),
            context=context,
            hooks=self._hooks,
        )
        async for event in stream_agent_response(context, result):
            yield event

    async def _act(
        self, loaded: Loaded, op: CustomActionOp
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The app's action handler's answer to a widget action."""
        handler = self._resources.app.action
        if handler is None:
            raise CustomStreamError(NO_ACTION_HANDLER, allow_retry=False)
        sender = await self._sender(op.item_id)
        events = handler(loaded.thread.thread, op.action, sender, self._request())
        async for event in events:
            yield event

    async def _sender(self, item_id: str | None) -> WidgetItem | None:
        if item_id is None:
            return None
        record = await self._history.get_item(
            self._job.user_id, self._job.thread_id, item_id
        )
        if not isinstance(record.item, WidgetItem):
            # The gateway checked; as ChatKitServer does if it was not a widget.
            raise StreamError(ErrorCode.STREAM_ERROR, allow_retry=False)
        return record.item

    def _request(self) -> TurnContext:
        return TurnContext(
            user_id=self._job.user_id, history=self._history, run_id=self._job.run_id
        )

    def _agent_context(self, thread: ThreadRecord) -> TurnAgentContext:
        return AgentContext(
            thread=thread.thread, store=self._store, request_context=self._request()
        )

    async def _load_items(self) -> list[ItemRecord]:
        records: list[ItemRecord] = []
        after: str | None = None
        while True:
            page = await self._history.list_items(
                self._job.user_id, self._job.thread_id, limit=ITEMS_PAGE, after=after
            )
            records.extend(page.data)
            if not page.has_more or page.after is None:
                return records
            after = page.after

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
        if not _is_hidden(event):
            await self._publisher.publish(event, outgoing.tool)

    async def _persist(self, event: ThreadStreamEvent) -> None:
        user_id, thread_id = self._job.user_id, self._job.thread_id
        match event:
            case ThreadItemDoneEvent(item=item):
                calls = self._calls_for(item.id)
                try:
                    await self._history.add_item(user_id, thread_id, item, calls)
                except HistoryConflict:
                    await self._history.save_item(user_id, thread_id, item, calls)
            case ThreadItemReplacedEvent(item=item):
                calls = self._calls_for(item.id)
                await self._history.save_item(user_id, thread_id, item, calls)
            case ThreadItemRemovedEvent(item_id=item_id):
                try:
                    await self._history.delete_item(user_id, thread_id, item_id)
                except HistoryNotFound:
                    log.debug("removed item was never stored", item_id=item_id)
            case _:
                pass

    def _calls_for(self, item_id: str) -> list[ToolCallRecord]:
        """Stored calls of a workflow continued from an earlier turn, then new ones."""
        return self._stored_calls.get(item_id, []) + self._hooks.records_for(item_id)

    async def fail(self, error: BaseException, *, record_run: bool = True) -> None:
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
        if record_run:
            await self._record(RunUpdate(status="failed", error=type(error).__name__))
        await self._publisher.end("failed")

    async def _record(self, update: RunUpdate) -> None:
        if self._marking is not None:
            # The final status must land after "running", never before it.
            with contextlib.suppress(Exception):
                await self._marking
        try:
            await self._history.update_run(self._job.user_id, self._job.run_id, update)
        except Exception as error:
            log.error(
                "recording the run's status failed", error_type=type(error).__name__
            )


async def _no_items() -> list[ItemRecord]:
    return []


def error_event(error: BaseStreamError) -> ErrorEvent:
    """The ChatKit error event for an app's stream error, as ChatKitServer sends."""
    if isinstance(error, CustomStreamError):
        return ErrorEvent(
            code="custom", message=error.message, allow_retry=error.allow_retry
        )
    if isinstance(error, StreamError):
        return ErrorEvent(code=error.code, allow_retry=error.allow_retry)
    return ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=error.allow_retry)


def _is_hidden(event: ThreadStreamEvent) -> bool:
    item = getattr(event, "item", None)
    return item is not None and item.type in HIDDEN_TYPES
