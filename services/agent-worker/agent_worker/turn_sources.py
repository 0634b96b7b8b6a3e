"""What a turn reads before it starts, and where its events come from.

`load` registers the run's cancel signal with the control channel, claims the
run in one history call (it becomes running; its thread and first items and its
cancel flag come with it), then pages through the rest of a long thread.
`TurnSource` yields the op's chatkit events: the agent's answer to the stored
thread (`RespondOp`), or the app's action handler's (`CustomActionOp`).
"""

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import assert_never

from agents import Runner
from agents.result import RunResultStreaming
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.errors import CustomStreamError, ErrorCode, StreamError
from chatkit.types import ThreadStreamEvent, WidgetItem

from shared.history_api import (
    ErrorBody,
    ItemPage,
    ItemRecord,
    RunClaim,
    RunRecord,
    ThreadRecord,
)
from shared.history_client import HistoryClient, HistoryConflict
from shared.jobs import CustomActionOp, RespondOp, RunJob

from .agent_app import NO_ACTION_HANDLER
from .agent_input import build_agent_input
from .attachment_input import AttachmentParts
from .resources import WorkerResources
from .tool_activity import ToolActivityHooks
from .turn_context import TurnAgentContext, TurnContext
from .turn_store import TurnStore

ITEMS_PAGE = 1000
"""Items per request when a thread is longer than the claim's first page."""


class NotClaimedError(Exception):
    """history refused the claim: the run is no longer queued with a live lease
    (another worker has it, it ended, or it waited past its lease)."""

    def __init__(self, status: str | None) -> None:
        super().__init__(f"run not claimable (status {status})")
        self.status = status


@dataclass(frozen=True)
class Loaded:
    """What a turn reads before it starts."""

    run: RunRecord
    thread: ThreadRecord
    records: list[ItemRecord]
    cancel: asyncio.Event
    """Set when a cancel signal for the run arrives (or arrived already)."""
    claimed_at: float
    """When the claim was sent (monotonic clock): its lease counts from then."""


async def load(resources: WorkerResources, job: RunJob) -> Loaded:
    """Watch for the run's cancel, then claim the run (thread and first items
    included); ``NotClaimedError`` if history refuses the claim."""
    settings = resources.settings
    claim = RunClaim(worker=settings.worker_name, lease_s=settings.worker_lease_s)
    # Watched first: a cancel signalled after the claim's answer reaches the
    # run; one signalled before it is in the answer (`ControlChannel.watch`).
    cancel = resources.control.watch(job.run_id)
    claimed_at = time.monotonic()
    try:
        claimed = await resources.history.claim_run(job.user_id, job.run_id, claim)
    except HistoryConflict as refusal:
        raise NotClaimedError(_refused_status(refusal)) from refusal
    records: list[ItemRecord] = []
    if isinstance(job.op, RespondOp):
        records = await _all_items(resources.history, job, claimed.items)
    return Loaded(
        run=claimed.run,
        thread=claimed.thread,
        records=records,
        cancel=cancel,
        claimed_at=claimed_at,
    )


def _refused_status(refusal: HistoryConflict) -> str | None:
    """The run's status in a ``run_state`` refusal (its detail is the record)."""
    try:
        body = ErrorBody.model_validate_json(refusal.detail)
        return RunRecord.model_validate_json(body.detail).status
    except ValueError:
        return None


async def _all_items(
    history: HistoryClient, job: RunJob, first: ItemPage
) -> list[ItemRecord]:
    records = list(first.data)
    page = first
    while page.has_more and page.after is not None:
        page = await history.list_items(
            job.user_id, job.thread_id, limit=ITEMS_PAGE, after=page.after
        )
        records.extend(page.data)
    return records


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
