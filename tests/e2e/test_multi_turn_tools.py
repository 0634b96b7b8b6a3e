"""Three turns with tools on every model path: Responses, Chat Completions, LiteLLM."""

import httpx
from chatkit.types import (
    AssistantMessageItem,
    CustomTask,
    ThreadItemDoneEvent,
    UserMessageItem,
    WorkflowItem,
)

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import ChatKitStream
from testkit.tokens import jwt_for

from .model_requests import request_containing, tool_exchanges

OPENING = ["thread.created", "thread.item.done", "stream_options"]


def done_items(stream: ChatKitStream) -> list[ThreadItemDoneEvent]:
    return [e for e in stream.events if isinstance(e, ThreadItemDoneEvent)]


def tool_workflow(stream: ChatKitStream) -> WorkflowItem:
    workflows = [e.item for e in done_items(stream) if isinstance(e.item, WorkflowItem)]
    assert len(workflows) == 1, stream.types
    return workflows[0]


async def test_three_turns_with_tools_show_store_and_feed_each_next_turn(
    model_path_gateway: str, fake_model: str, user_id: str, marker: str
) -> None:
    async with httpx.AsyncClient(base_url=model_path_gateway) as http:
        client = ChatKitClient(http, jwt_for(user_id))

        first = await client.create_thread(f"add task Buy milk {marker}")
        assert first.types[:3] == OPENING
        thread_id = first.thread_id
        assert thread_id is not None
        task = tool_workflow(first).workflow.tasks[0]
        assert isinstance(task, CustomTask)
        assert task.title is not None
        assert "add_task" in task.title
        assert task.status_indicator == "complete"
        assert f"Buy milk {marker}" in first.assistant_text()

        second = await client.add_user_message(thread_id, "list tasks")
        assert second.types[:2] == ["thread.item.done", "stream_options"]
        assert "thread.created" not in second.types
        assert f"Buy milk {marker}" in second.assistant_text()

        third = await client.add_user_message(thread_id, f"thanks {marker}")
        assert f"Echo: thanks {marker} (user turns: 3)" in third.assistant_text()

        exchanges = tool_exchanges(request_containing(fake_model, f"thanks {marker}"))
        assert [name for name, _ in exchanges] == ["add_task", "list_tasks"]
        assert all(f"Buy milk {marker}" in output for _, output in exchanges)

        items = (await client.list_items(thread_id, limit=50, order="asc")).data
        assert [item.type for item in items] == [
            "user_message", "workflow", "assistant_message",
            "user_message", "workflow", "assistant_message",
            "user_message", "assistant_message",
        ]  # fmt: skip
        ids = [item.id for item in items]
        assert len(set(ids)) == len(ids)
        assert not any("fake" in item_id for item_id in ids)
        assert all(item.id.startswith(("msg_", "wf_")) for item in items)
        streamed = {e.item.id for s in (first, second, third) for e in done_items(s)}
        assert set(ids) == streamed


async def test_every_streamed_item_reaches_storage_exactly_as_streamed(
    model_path_gateway: str, user_id: str, marker: str
) -> None:
    async with httpx.AsyncClient(base_url=model_path_gateway) as http:
        client = ChatKitClient(http, jwt_for(user_id))
        stream = await client.create_thread(f"hello {marker}")
        assert stream.thread_id is not None
        stored = (await client.list_items(stream.thread_id, order="asc")).data
        streamed = [event.item for event in done_items(stream)]
        assert [item.id for item in stored] == [item.id for item in streamed]
        user, answer = stored
        assert isinstance(user, UserMessageItem)
        assert isinstance(answer, AssistantMessageItem)
        assert answer.content[0].text == stream.assistant_text()
        assert answer.content[0].text == f"Echo: hello {marker} (user turns: 1)"
