"""What a turn reads before it starts, and where its events come from.

`load` reads the run, the thread and (to answer it) all its items from history
while the control channel subscribes to the run's cancel signal. `TurnSource`
yields the op's chatkit events: the agent's answer to the stored thread
(`RespondOp`), or the app's action handler's (`CustomActionOp`).
"""

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import assert_never

from agents import Runner
from agents.result import RunResultStreaming
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.errors import CustomStreamError, ErrorCode, StreamError
from chatkit.types import ThreadStreamEvent, WidgetItem

from shared.history_api import ItemRecord, RunRecord, ThreadRecord
from shared.history_client import HistoryClient
from shared.jobs import CustomActionOp, RespondOp, RunJob

from .agent_app import NO_ACTION_HANDLER
from .agent_input import build_agent_input
from .attachment_input import AttachmentParts
from .resources import WorkerResources
from .tool_activity import ToolActivityHooks
from .turn_context import TurnAgentContext, TurnContext
from .turn_store import TurnStore

ITEMS_PAGE = 100


@dataclass(frozen=True)
class Loaded:
    """What a turn reads before it starts."""

    run: RunRecord
    thread: ThreadRecord
    records: list[ItemRecord]
    cancel: asyncio.Event
    """Set when a cancel signal for the run arrives (or arrived already)."""


async def load(resources: WorkerResources, job: RunJob) -> Loaded:
    """The run, the thread, its items and the cancel event, fetched concurrently."""
    history = resources.history
    run, thread, records, cancel = await asyncio.gather(
        history.get_run(job.user_id, job.run_id),
        history.get_thread(job.user_id, job.thread_id),
        _all_items(history, job) if isinstance(job.op, RespondOp) else _no_items(),
        resources.control.watch(job.run_id),
    )
    return Loaded(run=run, thread=thread, records=records, cancel=cancel)


async def _all_items(history: HistoryClient, job: RunJob) -> list[ItemRecord]:
    records: list[ItemRecord] = []
    after: str | None = None
    while True:
        page = await history.list_items(
            job.user_id, job.thread_id, limit=ITEMS_PAGE, after=after
        )
        records.extend(page.data)
        if not page.has_more or page.after is None:
            return records
        after = page.after


async def _no_items() -> list[ItemRecord]:
    return []


class TurnSource:
    """The chatkit events of one run's op; `result` is the agent run once started."""

    def __init__(
        self,
        resources: WorkerResources,
        job: RunJob,
        loaded: Loaded,
        *,
        store: TurnStore,
        hooks: ToolActivityHooks,
    ) -> None:
        self._resources = resources
        self._job = job
        self._loaded = loaded
        self._store = store
        self._hooks = hooks
        self.result: RunResultStreaming | None = None
        """The Agents SDK run of a `RespondOp`, once started (cancel stops it)."""

    def events(self) -> AsyncGenerator[ThreadStreamEvent]:
        """The op's events, in order."""
        op = self._job.op
        match op:
            case RespondOp():
                return self._respond()
            case CustomActionOp():
                return self._act(op)
            case _:
                assert_never(op)

    async def _respond(self) -> AsyncGenerator[ThreadStreamEvent]:
        """The agent's answer to the thread as stored."""
        records = self._loaded.records
        self._store.preload(self._job.thread_id, [r.item for r in records])
        attachments = AttachmentParts(self._resources.blobs, self._job.user_id)
        context = self._agent_context()
        self.result = Runner.run_streamed(
            self._resources.app.agent,
            await build_agent_input(records, attachments),
            context=context,
            hooks=self._hooks,
        )
        async for event in stream_agent_response(context, self.result):
            yield event

    async def _act(self, op: CustomActionOp) -> AsyncGenerator[ThreadStreamEvent]:
        """The app's action handler's answer to a widget action."""
        handler = self._resources.app.action
        if handler is None:
            raise CustomStreamError(NO_ACTION_HANDLER, allow_retry=False)
        sender = await self._sender(op.item_id)
        thread = self._loaded.thread.thread
        async for event in handler(thread, op.action, sender, self._request()):
            yield event

    async def _sender(self, item_id: str | None) -> WidgetItem | None:
        if item_id is None:
            return None
        record = await self._resources.history.get_item(
            self._job.user_id, self._job.thread_id, item_id
        )
        if not isinstance(record.item, WidgetItem):
            # The gateway checked; as ChatKitServer does if it was not a widget.
            raise StreamError(ErrorCode.STREAM_ERROR, allow_retry=False)
        return record.item

    def _request(self) -> TurnContext:
        return TurnContext(
            user_id=self._job.user_id,
            history=self._resources.history,
            run_id=self._job.run_id,
        )

    def _agent_context(self) -> TurnAgentContext:
        return AgentContext(
            thread=self._loaded.thread.thread,
            store=self._store,
            request_context=self._request(),
        )
