"""The arq job: one agent turn, from a RunJob to a finished run record.

Load the thread, run the agent on its stored items, translate the stream to our
events, persist every done item through history BEFORE publishing it, and end
with RunEnded. Any failure becomes a generic ChatKit error event (never the
provider's text), a failed run record and RunEnded(status="failed").
"""

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from agents import Runner
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.types import (
    DurationSummary,
    ErrorEvent,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
    WorkflowItem,
)

from shared.history_api import ItemRecord, RunRecord, RunUpdate, ThreadRecord
from shared.history_client import HistoryConflict, HistoryNotFound
from shared.jobs import RunJob

from .agent_input import build_agent_input
from .publisher import RunPublisher
from .redaction import redacted_error
from .resources import WorkerResources
from .tool_activity import ToolActivityHooks
from .translate import Outgoing, Translator, as_utc
from .turn_context import TurnAgentContext, TurnContext
from .turn_store import TurnStore

RESOURCES_KEY = "agent_worker.resources"
"""Key of the WorkerResources in arq's ctx dict."""

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
    log.info("run started", pickup_ms=round(pickup_ms, 2))
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

    async def load(self) -> Loaded:
        """The run, the thread and all its items, read concurrently."""
        job = self._job
        run, thread, records = await asyncio.gather(
            self._history.get_run(job.user_id, job.run_id),
            self._history.get_thread(job.user_id, job.thread_id),
            self._load_items(),
        )
        return Loaded(run=run, thread=thread, records=records)

    async def run(self, loaded: Loaded) -> JobOutcome:
        """Stream the agent's answer; never raises except on cancellation."""
        try:
            await self._stream(loaded)
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

    async def _stream(self, loaded: Loaded) -> None:
        running = RunUpdate(
            status="running", worker=self._resources.settings.worker_name
        )
        # Marked in the background: the model call need not wait for history.
        self._marking = asyncio.create_task(
            self._history.update_run(self._job.user_id, self._job.run_id, running)
        )
        items = [record.item for record in loaded.records]
        self._store.preload(self._job.thread_id, items)
        context = self._agent_context(loaded.thread)
        result = Runner.run_streamed(
            self._resources.agent,
            build_agent_input(loaded.records),
            context=context,
            hooks=self._hooks,
        )
        async for event in stream_agent_response(context, result):
            for outgoing in self._translator.translate(event):
                await self._emit(outgoing)
        for item in self._store.held_items:
            await self._emit_held(item)
        await self._marking

    def _agent_context(self, thread: ThreadRecord) -> TurnAgentContext:
        request = TurnContext(
            user_id=self._job.user_id, run_id=self._job.run_id, history=self._history
        )
        return AgentContext(
            thread=thread.thread, store=self._store, request_context=request
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

    async def _emit_held(self, item: ThreadItem) -> None:
        """A workflow left open at the end of the turn: close it like chatkit does."""
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
                calls = self._hooks.records_for(item.id)
                try:
                    await self._history.add_item(user_id, thread_id, item, calls)
                except HistoryConflict:
                    await self._history.save_item(user_id, thread_id, item, calls)
            case ThreadItemReplacedEvent(item=item):
                calls = self._hooks.records_for(item.id)
                await self._history.save_item(user_id, thread_id, item, calls)
            case ThreadItemRemovedEvent(item_id=item_id):
                try:
                    await self._history.delete_item(user_id, thread_id, item_id)
                except HistoryNotFound:
                    log.debug("removed item was never stored", item_id=item_id)
            case _:
                pass

    async def fail(self, error: BaseException, *, record_run: bool = True) -> None:
        """Log, publish a generic error, mark the run failed, publish RunEnded."""
        secrets = _secrets(self._resources)
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


def _is_hidden(event: ThreadStreamEvent) -> bool:
    item = getattr(event, "item", None)
    return item is not None and item.type in HIDDEN_TYPES


def _secrets(resources: WorkerResources) -> list[str]:
    settings = resources.settings
    return [
        settings.openai_api_key.get_secret_value(),
        settings.gemini_api_key.get_secret_value(),
        settings.internal_token,
    ]
