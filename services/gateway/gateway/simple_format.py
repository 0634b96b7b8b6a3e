"""The original simple SSE format, as a view of the same run.

Body ``{"message", "thread_id"?}``; events ``thread`` (first, with the thread
and run ids), ``text``, ``thinking``, ``tool_call``, ``tool_result``,
``error``, then ``data: [DONE]``. ChatKit events are mapped here; everything
the simple format has no word for (item bookkeeping, progress, notices...) is
left out. The frames of a run event carry its sequence number as the ``id:``
of the last of them (``[DONE]`` carries the end's), so a client resumes with
``Last-Event-ID`` (``GET /chatkit/runs/{run_id}/events?format=simple``).
"""

from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

import orjson
from chatkit.types import (
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ErrorEvent,
    InferenceOptions,
    ThoughtTask,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    UserMessageInput,
    UserMessageTextContent,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from gateway import busy, run_stream, runs
from gateway.auth import User
from gateway.errors import BUSY_MESSAGE, DROPPED_MESSAGES
from gateway.live_event import LiveEvent
from gateway.metrics import EVENTS_RELAYED
from gateway.protocol import SimpleReq
from gateway.run_stream import THREAD_ID_HEADER
from gateway.sse import (
    KEEPALIVE_FRAME,
    START,
    Keepalive,
    QuietCheck,
    Resume,
    fixed_frames,
    follow,
    sse_response,
    with_id,
)
from gateway.state import State
from gateway.subscription import RelayDropped, Subscription
from shared.events import RunEnded, RunEvent, ToolActivity

DONE_FRAME = b"data: [DONE]\n\n"
GENERIC_ERROR = "Something went wrong while answering. Please try again."


class _SimpleEventBase(BaseModel):
    model_config = ConfigDict(frozen=True)


class SimpleThread(_SimpleEventBase):
    """First event: the conversation the message went to, and the run answering."""

    type: Literal["thread"] = "thread"
    thread_id: str
    run_id: str | None = None
    """Left out when no run was started (a busy thread)."""


class SimpleText(_SimpleEventBase):
    """A piece of the answer's text."""

    type: Literal["text"] = "text"
    content: str


class SimpleThinking(_SimpleEventBase):
    """A piece of the model's visible reasoning."""

    type: Literal["thinking"] = "thinking"
    content: str


class SimpleToolCall(_SimpleEventBase):
    """The agent called a tool with these arguments."""

    type: Literal["tool_call"] = "tool_call"
    name: str
    args: dict[str, Any]


class SimpleToolResult(_SimpleEventBase):
    """A tool answered."""

    type: Literal["tool_result"] = "tool_result"
    name: str
    result: str


class SimpleError(_SimpleEventBase):
    """The answer failed; a human-readable reason."""

    type: Literal["error"] = "error"
    message: str


SimpleEvent = (
    SimpleThread
    | SimpleText
    | SimpleThinking
    | SimpleToolCall
    | SimpleToolResult
    | SimpleError
)


def simple_frame(event: BaseModel) -> bytes:
    """One simple-format SSE frame."""
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


def tool_args(arguments: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (never fails on odd input)."""
    if not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"raw": arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


class SimpleMapper:
    """Turns one run's ChatKit events into simple events, never repeating text.

    Text and thoughts arrive as deltas, as whole content parts or as whole
    items; the mapper remembers what it sent per (item, index) and sends only
    what is new, so an answer that comes only as a final item still shows.
    """

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str, int], str] = {}
        self.error_sent = False

    def prime(self, messages: Iterable[RunEvent | RunEnded]) -> None:
        """Take in what a resuming client already got, without sending it again."""
        for message in messages:
            if isinstance(message, RunEvent):
                self.map(message)

    def map(self, message: RunEvent) -> list[SimpleEvent]:
        """The simple events for one run event (often none)."""
        events: list[SimpleEvent] = []
        if message.tool is not None:
            events.append(self._tool(message.tool))
        events.extend(self._event(message.event))
        if any(isinstance(event, SimpleError) for event in events):
            self.error_sent = True
        return events

    @staticmethod
    def _tool(tool: ToolActivity) -> SimpleEvent:
        if tool.phase == "call":
            return SimpleToolCall(name=tool.name, args=tool_args(tool.arguments))
        return SimpleToolResult(name=tool.name, result=tool.result)

    def _event(self, event: ThreadStreamEvent) -> list[SimpleEvent]:
        match event:
            case ThreadItemUpdatedEvent():
                return self._update(event)
            case (
                ThreadItemAddedEvent()
                | ThreadItemDoneEvent()
                | ThreadItemReplacedEvent()
            ):
                return self._item(event.item)
            case ErrorEvent():
                return [SimpleError(message=event.message or GENERIC_ERROR)]
            case _:
                return []

    def _update(self, event: ThreadItemUpdatedEvent) -> list[SimpleEvent]:
        update = event.update
        match update:
            case AssistantMessageContentPartTextDelta():
                key = ("text", event.item_id, update.content_index)
                self._sent[key] = self._sent.get(key, "") + update.delta
                return [SimpleText(content=update.delta)] if update.delta else []
            case AssistantMessageContentPartAdded() | AssistantMessageContentPartDone():
                key = ("text", event.item_id, update.content_index)
                return self._text(key, update.content.text)
            case WorkflowTaskAdded() | WorkflowTaskUpdated():
                if isinstance(update.task, ThoughtTask):
                    key = ("thought", event.item_id, update.task_index)
                    return self._thought(key, update.task.content)
                return []
            case _:
                return []

    def _item(self, item: ThreadItem) -> list[SimpleEvent]:
        events: list[SimpleEvent] = []
        match item:
            case AssistantMessageItem():
                for index, part in enumerate(item.content):
                    events += self._text(("text", item.id, index), part.text)
            case WorkflowItem():
                for index, task in enumerate(item.workflow.tasks):
                    if isinstance(task, ThoughtTask):
                        events += self._thought(
                            ("thought", item.id, index), task.content
                        )
        return events

    def _novel(self, key: tuple[str, str, int], full: str) -> str:
        sent = self._sent.get(key, "")
        self._sent[key] = full
        # A part that was rewritten rather than extended is sent again whole.
        return full[len(sent) :] if full.startswith(sent) else full

    def _text(self, key: tuple[str, str, int], full: str) -> list[SimpleEvent]:
        novel = self._novel(key, full)
        return [SimpleText(content=novel)] if novel else []

    def _thought(self, key: tuple[str, str, int], full: str) -> list[SimpleEvent]:
        novel = self._novel(key, full)
        return [SimpleThinking(content=novel)] if novel else []


async def simple_frames(
    thread_id: str,
    subscription: Subscription,
    keepalive_s: float,
    *,
    run_id: str | None = None,
    resume: Resume = START,
    on_quiet: QuietCheck | None = None,
    mapper: SimpleMapper | None = None,
) -> AsyncIterator[bytes]:
    """``thread`` first, the run's mapped events, then ``[DONE]`` once it ended.

    ``mapper``: one primed with what a resuming client already has.
    """
    yield simple_frame(SimpleThread(thread_id=thread_id, run_id=run_id))
    mapper = mapper or SimpleMapper()
    items = follow(subscription, keepalive_s, resume=resume, on_quiet=on_quiet)
    async for relayed in items:
        # The simple face maps typed events: validate live ones here.
        item = relayed.message if isinstance(relayed, LiveEvent) else relayed
        match item:
            case None:
                continue
            case Keepalive():
                yield KEEPALIVE_FRAME
            case RunEvent():
                events = mapper.map(item)
                EVENTS_RELAYED.inc(len(events))
                for index, event in enumerate(events, 1):
                    frame = simple_frame(event)
                    yield with_id(item.seq, frame) if index == len(events) else frame
            case RunEnded():
                if item.status == "failed" and not mapper.error_sent:
                    yield simple_frame(SimpleError(message=GENERIC_ERROR))
                yield with_id(item.seq, DONE_FRAME)
                return
            case RelayDropped():
                yield simple_frame(SimpleError(message=DROPPED_MESSAGES[item.reason]))
    yield DONE_FRAME


def simple_input(message: str) -> UserMessageInput:
    """The ChatKit input a simple-format message stands for."""
    return UserMessageInput(
        content=[UserMessageTextContent(text=message)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


async def respond(
    state: State,
    user: User,
    request: SimpleReq,
    request_id: str,
    idempotency_key: str | None = None,
) -> StreamingResponse:
    """Start the run (or re-attach to it) and stream it in the simple format."""
    try:
        started = await busy.open_when_free(
            state,
            user,
            lambda: runs.start_simple(
                state,
                user,
                request.thread_id,
                simple_input(request.message),
                request_id,
                idempotency_key,
            ),
        )
    except runs.ThreadBusyError as busy_thread:
        thread_id = busy_thread.thread_id
        refusal = [
            simple_frame(SimpleThread(thread_id=thread_id)),
            simple_frame(SimpleError(message=BUSY_MESSAGE)),
            DONE_FRAME,
        ]
        return sse_response(fixed_frames(refusal), {THREAD_ID_HEADER: thread_id})
    run, subscription = started.run, started.subscription
    resume = START
    if started.reused:  # a retried request: the run from its first event
        resume = Resume(replay=await run_stream.read_log(state, run, 0, subscription))
    frames = simple_frames(
        started.thread_id,
        subscription,
        state["settings"].gateway_keepalive_s,
        run_id=run.id,
        resume=resume,
        on_quiet=run_stream.watch(state, user.id, run.id),
    )
    return run_stream.run_response(state, user.id, run, frames)
