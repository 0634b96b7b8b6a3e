"""What durability tests say and check: clients, expected answers, stored items."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
from chatkit.types import (
    AssistantMessageItem,
    SDKHiddenContextItem,
    ThreadItem,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)

from shared.history_client import HistoryClient
from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import SimpleText, SseRead
from testkit.fake_model import recorded_requests
from testkit.run_api import RUN_ID_HEADER, RunApi
from testkit.tokens import jwt_for

CANCELLED_CONTEXT = (
    "The user cancelled the stream. Stop responding to the prior request."
)
POLL_S = 0.05


@dataclass
class Actor:
    """One user talking to one gateway: ChatKit ops and the run endpoints."""

    user_id: str
    http: httpx.AsyncClient
    chatkit: ChatKitClient
    runs: RunApi


def open_actor(url: str, user_id: str) -> Actor:
    """A new client of the gateway at ``url`` as ``user_id`` (close ``http`` after)."""
    http = httpx.AsyncClient(base_url=url)
    token = jwt_for(user_id)
    return Actor(user_id, http, ChatKitClient(http, token), RunApi(http, token))


def echo(text: str, user_turns: int) -> str:
    """The fake model's answer to ``text`` after ``user_turns`` user messages."""
    return f"Echo: {text} (user turns: {user_turns})"


def answer_text(events: Sequence[ThreadStreamEvent]) -> str:
    """The assistant text the events' deltas add up to."""
    return "".join(
        event.update.delta
        for event in events
        if isinstance(event, ThreadItemUpdatedEvent)
        and event.update.type == "assistant_message.content_part.text_delta"
    )


def simple_text(read: SseRead) -> str:
    """The answer text of a simple-format read."""
    return "".join(e.content for e in read.simple_events() if isinstance(e, SimpleText))


def text_frame_ids(read: SseRead) -> list[int]:
    """The ``id:`` of each simple-format text frame, in order."""
    return [
        int(frame.id)
        for frame in read.frames
        if frame.id is not None and frame.data.startswith('{"type":"text"')
    ]


def opening_frames(events: Sequence[ThreadStreamEvent]) -> int:
    """How many frames the gateway sent itself, before the worker's (up to and
    including ``stream_options``)."""
    kinds = [event.type for event in events]
    assert "stream_options" in kinds, kinds
    return kinds.index("stream_options") + 1


def created_thread_id(events: Sequence[ThreadStreamEvent]) -> str:
    """The id in the stream's ``thread.created`` event."""
    for event in events:
        if event.type == "thread.created":
            return event.thread.id
    raise AssertionError(f"no thread.created in {[e.type for e in events]}")


def run_id_of(read: SseRead) -> str:
    """The ``X-Run-Id`` header of a streaming answer."""
    run_id = read.header(RUN_ID_HEADER)
    assert run_id, f"no X-Run-Id header: {dict(read.headers)}"
    return run_id


def item_text(item: ThreadItem) -> str:
    """The text of a user or assistant message (empty for other items)."""
    match item:
        case UserMessageItem():
            return "".join(
                part.text
                for part in item.content
                if isinstance(part, UserMessageTextContent)
            )
        case AssistantMessageItem():
            return "".join(part.text for part in item.content)
        case SDKHiddenContextItem():
            return item.content
        case _:
            return ""


async def stored_items(
    history: HistoryClient, user_id: str, thread_id: str
) -> list[ThreadItem]:
    """Every stored item of the thread, hidden ones included, in order."""
    items: list[ThreadItem] = []
    after: str | None = None
    while True:
        page = await history.list_items(user_id, thread_id, limit=100, after=after)
        items += [record.item for record in page.data]
        if not page.has_more:
            return items
        after = page.after


def texts_by_type(items: Sequence[ThreadItem]) -> list[tuple[str, str]]:
    """``(type, text)`` of each item: a readable picture of a thread."""
    return [(item.type, item_text(item)) for item in items]


def model_calls_with(model_url: str, marker: str) -> int:
    """How many requests the fake model received whose body mentions ``marker``."""
    return sum(
        1
        for request in recorded_requests(model_url)
        if marker in json.dumps(request.body)
    )


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within_s: float, what: str
) -> None:
    """Poll ``check`` until it is true; fail after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"not {what} after {within_s} s"
        await asyncio.sleep(POLL_S)
