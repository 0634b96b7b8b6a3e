"""Whole streaming turns against the test gateway, with the WorkerDouble answering.

Every frame is validated with the chatkit types; the item factories build what
the real worker would stream (a pending client tool call, a structured input,
a widget, an answer).
"""

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from chatkit.actions import ActionConfig
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    WidgetItem,
)
from chatkit.widgets import Button, Card, Text

from shared.events import RunStatus
from shared.ids import new_id
from shared.jobs import RunJob
from testkit.chatkit_sse import SseBody, SseFrame, iter_frames, validate_chatkit_frames
from testkit.tokens import auth_headers

from .worker_double import WorkerDouble

WorkerEvents = Callable[[str], Sequence[ThreadStreamEvent]]


@dataclass
class Turn:
    """One streamed op: every event the client got, and the job the worker ran."""

    events: list[ThreadStreamEvent]
    job: RunJob

    @property
    def types(self) -> list[str]:
        """Event ``type`` values in order."""
        return [event.type for event in self.events]


def user_input(text: str, attachments: Sequence[str] = ()) -> dict[str, Any]:
    """A UserMessageInput as the ChatKit client sends it."""
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": list(attachments),
        "inference_options": {},
    }


def create_body(text: str, attachments: Sequence[str] = ()) -> dict[str, Any]:
    """``threads.create`` with one text."""
    return {
        "type": "threads.create",
        "params": {"input": user_input(text, attachments)},
    }


def add_body(thread_id: str, text: str) -> dict[str, Any]:
    """``threads.add_user_message`` with one text."""
    params = {"thread_id": thread_id, "input": user_input(text)}
    return {"type": "threads.add_user_message", "params": params}


def events_of(frames: list[Any]) -> list[ThreadStreamEvent]:
    return validate_chatkit_frames(SseBody(frames=frames))


async def turn(
    http: httpx.AsyncClient,
    worker: WorkerDouble,
    user: str,
    body: dict[str, Any],
    answer: WorkerEvents = lambda _: (),
    status: RunStatus = "completed",
) -> Turn:
    """POST a streaming op, let the worker publish ``answer(thread_id)``, read all."""
    async with http.stream(
        "POST", "/chatkit", json=body, headers=auth_headers(user)
    ) as response:
        assert response.status_code == 200, await response.aread()
        frames = iter_frames(response)
        first = events_of([await anext(frames)])
        thread_id = body["params"].get("thread_id")
        if first[0].type == "thread.created":
            thread_id = first[0].thread.id
        assert isinstance(thread_id, str)
        _, job = await worker.job_for(thread_id)
        await worker.run(job, list(answer(thread_id)), status)
        rest = events_of([frame async for frame in frames])
    return Turn([*first, *rest], job)


async def new_thread(
    http: httpx.AsyncClient,
    worker: WorkerDouble,
    user: str,
    answer: WorkerEvents = lambda _: (),
    text: str = "hello",
) -> str:
    """A thread whose first turn the worker answered with ``answer``; its id."""
    created = await turn(http, worker, user, create_body(text), answer)
    return created.job.thread_id


def now() -> datetime:
    """Timezone-aware now, as the worker stamps items."""
    return datetime.now(UTC)


def answer_item(
    thread_id: str, text: str, item_id: str | None = None
) -> AssistantMessageItem:
    """An assistant message."""
    return AssistantMessageItem(
        id=item_id or new_id("msg"), thread_id=thread_id, created_at=now(),
        content=[AssistantMessageContent(text=text)],
    )  # fmt: skip


def pending_tool_call(
    thread_id: str, name: str = "get_user_timezone"
) -> ClientToolCallItem:
    """A client tool call the browser has yet to answer."""
    return ClientToolCallItem(
        id=new_id("tc"), thread_id=thread_id, created_at=now(), status="pending",
        call_id=new_id("tc"), name=name, arguments={},
    )  # fmt: skip


def priority_question(thread_id: str) -> StructuredInputItem:
    """The default agent's ``ask_priority`` single-choice question."""
    options = [
        StructuredInputMultipleChoiceOption(value=v) for v in ("low", "medium", "high")
    ]
    question = StructuredInputMultipleChoice(
        id="priority", question="Priority?", options=options, multiple=False
    )
    return StructuredInputItem(
        id=new_id("msg"), thread_id=thread_id, created_at=now(), status="pending",
        inputs=[question],
    )  # fmt: skip


def task_widget(thread_id: str) -> WidgetItem:
    """A task card with a streaming and a sync action, as ``show_tasks`` streams."""
    card = Card(
        children=[
            Text(value="Buy milk"),
            Button(label="Done", onClickAction=ActionConfig(type="tasks.complete")),
        ]
    )
    return WidgetItem(
        id=new_id("msg"), thread_id=thread_id, created_at=now(), widget=card
    )


def done(*items: Any) -> Callable[[str], list[ThreadStreamEvent]]:
    """Worker events: one ``thread.item.done`` per item factory, in order."""
    return lambda thread_id: [ThreadItemDoneEvent(item=f(thread_id)) for f in items]


@dataclass
class LiveTurn:
    """A streaming op whose response is still open; the worker has not answered."""

    response: httpx.Response
    frames: AsyncIterator[SseFrame]
    job: RunJob

    @property
    def run_id(self) -> str:
        """The run named by the response's ``X-Run-Id``."""
        return self.response.headers["x-run-id"]

    async def rest(self) -> list[SseFrame]:
        """Every frame still to come, up to the end of the stream."""
        return [frame async for frame in self.frames]


@contextlib.asynccontextmanager
async def live_turn(
    http: httpx.AsyncClient,
    worker: WorkerDouble,
    user: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> AsyncIterator[LiveTurn]:
    """POST a streaming op and take its job; the test plays the run."""
    async with http.stream(
        "POST", "/chatkit", json=body, headers={**auth_headers(user), **(headers or {})}
    ) as response:
        assert response.status_code == 200, await response.aread()
        thread_id = response.headers["x-thread-id"]
        _, job = await worker.job_for(thread_id)
        assert job.run_id == response.headers["x-run-id"]
        yield LiveTurn(response, iter_frames(response), job)


def text_delta(item_id: str, text: str) -> ThreadItemUpdatedEvent:
    """One assistant text delta."""
    update = AssistantMessageContentPartTextDelta(content_index=0, delta=text)
    return ThreadItemUpdatedEvent(item_id=item_id, update=update)


def answer_started(thread_id: str, item_id: str) -> ThreadItemAddedEvent:
    """``thread.item.added`` of an empty assistant message."""
    item = AssistantMessageItem(
        id=item_id, thread_id=thread_id, created_at=now(), content=[]
    )
    return ThreadItemAddedEvent(item=item)
