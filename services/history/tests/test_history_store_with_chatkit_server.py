"""The official ChatKitServer running on HistoryStore over a live history service."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Page,
    Thread,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from pydantic import TypeAdapter

from shared.history_store import HistoryStore

EVENT = TypeAdapter[ThreadStreamEvent](ThreadStreamEvent)
THREAD_PAGE = TypeAdapter(Page[Thread])
ITEM_PAGE = TypeAdapter(Page[ThreadItem])


@dataclass(frozen=True)
class RequestContext:
    user_id: str


class EchoServer(ChatKitServer[RequestContext]):
    """Answers every user message with its text, prefixed."""

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        said = (
            "".join(part.text for part in input_user_message.content)
            if input_user_message
            else ""
        )
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(UTC),
                content=[AssistantMessageContent(text=f"echo: {said}")],
            )
        )


def user_input(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


async def stream(
    server: EchoServer, request: dict[str, Any], ctx: RequestContext
) -> list[ThreadStreamEvent]:
    result = await server.process(TypeAdapter(dict).dump_json(request), ctx)
    assert isinstance(result, StreamingResult)
    events = []
    async for frame in result:
        assert frame.startswith(b"data: ")
        assert frame.endswith(b"\n\n")
        events.append(EVENT.validate_json(frame[len(b"data: ") : -2]))
    return events


async def call(
    server: EchoServer, request: dict[str, Any], ctx: RequestContext
) -> bytes:
    result = await server.process(TypeAdapter(dict).dump_json(request), ctx)
    assert isinstance(result, NonStreamingResult)
    return result.json


@pytest_asyncio.fixture
async def server(history_url: str) -> AsyncIterator[EchoServer]:
    store = HistoryStore(history_url)
    yield EchoServer(store)
    await store.aclose()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(user_id=f"usr_{uuid.uuid4().hex}")


def created_thread_id(events: list[ThreadStreamEvent]) -> str:
    created = events[0]
    assert isinstance(created, ThreadCreatedEvent)
    return created.thread.id


async def create_thread(server: EchoServer, ctx: RequestContext, text: str) -> str:
    events = await stream(
        server, {"type": "threads.create", "params": {"input": user_input(text)}}, ctx
    )
    return created_thread_id(events)


def text_of(item: ThreadItem) -> str:
    assert isinstance(item, UserMessageItem | AssistantMessageItem)
    return "".join(part.text for part in item.content)


async def test_two_turns_are_stored_and_read_back_through_chatkit(
    server: EchoServer, ctx: RequestContext
) -> None:
    events = await stream(
        server, {"type": "threads.create", "params": {"input": user_input("hi")}}, ctx
    )
    thread_id = created_thread_id(events)
    await stream(
        server,
        {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": user_input("again")},
        },
        ctx,
    )

    body = await call(
        server, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, ctx
    )

    assert [event.type for event in events] == [
        "thread.created",
        "thread.item.done",
        "stream_options",
        "thread.item.done",
    ]
    thread = Thread.model_validate_json(body)
    texts = [text_of(item) for item in thread.items.data]
    assert texts == ["hi", "echo: hi", "again", "echo: again"]
    assert thread.id.startswith("thr_")
    assert len(thread.id) == 36


async def test_items_list_pages_newest_first_with_a_cursor(
    server: EchoServer, ctx: RequestContext
) -> None:
    thread_id = await create_thread(server, ctx, "one")

    first = ITEM_PAGE.validate_json(
        await call(
            server,
            {"type": "items.list", "params": {"thread_id": thread_id, "limit": 1}},
            ctx,
        )
    )
    rest = ITEM_PAGE.validate_json(
        await call(
            server,
            {
                "type": "items.list",
                "params": {"thread_id": thread_id, "limit": 5, "after": first.after},
            },
            ctx,
        )
    )

    assert [item.type for item in first.data] == ["assistant_message"]
    assert first.has_more is True
    assert [item.type for item in rest.data] == ["user_message"]
    assert rest.has_more is False


async def test_rename_list_and_delete_go_through_the_store(
    server: EchoServer, ctx: RequestContext
) -> None:
    thread_id = await create_thread(server, ctx, "hello")

    await call(
        server,
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Hi"}},
        ctx,
    )
    listed = THREAD_PAGE.validate_json(
        await call(server, {"type": "threads.list", "params": {}}, ctx)
    )
    await call(
        server, {"type": "threads.delete", "params": {"thread_id": thread_id}}, ctx
    )

    assert [(thread.id, thread.title) for thread in listed.data] == [(thread_id, "Hi")]
    with pytest.raises(NotFoundError):
        await server.store.load_thread(thread_id, ctx)


async def test_another_user_gets_nothing_through_chatkit(
    server: EchoServer, ctx: RequestContext
) -> None:
    thread_id = await create_thread(server, ctx, "secret")
    stranger = RequestContext(user_id=f"usr_{uuid.uuid4().hex}")

    listed = THREAD_PAGE.validate_json(
        await call(server, {"type": "threads.list", "params": {}}, stranger)
    )
    items = ITEM_PAGE.validate_json(
        await call(
            server, {"type": "items.list", "params": {"thread_id": thread_id}}, stranger
        )
    )

    assert listed.data == []
    assert items.data == []
    with pytest.raises(NotFoundError):
        await call(
            server,
            {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
            stranger,
        )
