"""The original simple SSE format: a view of the same runs and storage."""

from collections.abc import Callable

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import (
    SimpleError,
    SimpleText,
    SimpleThread,
    SimpleToolCall,
    SimpleToolResult,
)

ClientFactory = Callable[[str], ChatKitClient]


async def test_simple_format_streams_thread_tool_call_result_text_then_done(
    client_for: ClientFactory, user_id: str, marker: str
) -> None:
    client = client_for(user_id)
    answer = await client.simple(f"add task Call mom {marker}")

    assert answer.done
    assert answer.response.headers["cache-control"] == "no-cache"
    assert answer.response.headers["x-accel-buffering"] == "no"
    first = answer.events[0]
    assert isinstance(first, SimpleThread)
    assert first.thread_id == answer.thread_id
    kinds = [type(event) for event in answer.events]
    call = kinds.index(SimpleToolCall)
    result = kinds.index(SimpleToolResult)
    assert 0 < call < result < kinds.index(SimpleText)
    tool_call = answer.events[call]
    assert isinstance(tool_call, SimpleToolCall)
    assert tool_call.name == "add_task"
    assert f"Call mom {marker}" in str(tool_call.args)
    tool_result = answer.events[result]
    assert isinstance(tool_result, SimpleToolResult)
    assert f"Call mom {marker}" in str(tool_result.result)
    assert f"Call mom {marker}" in answer.text()


async def test_simple_format_continues_a_thread_and_chatkit_sees_the_same_turns(
    client_for: ClientFactory, user_id: str, marker: str
) -> None:
    client = client_for(user_id)
    first = await client.simple(f"hi {marker}")
    assert first.thread_id is not None
    second = await client.simple(f"again {marker}", thread_id=first.thread_id)
    assert second.thread_id == first.thread_id
    assert second.text() == f"Echo: again {marker} (user turns: 2)"

    thread = await client.get_thread(first.thread_id)
    assert [item.type for item in thread.items.data] == [
        "user_message",
        "assistant_message",
    ] * 2


async def test_simple_format_reports_a_model_failure_without_its_secret(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    answer = await client.simple("please [fail] now")
    assert answer.done
    errors = [event for event in answer.events if isinstance(event, SimpleError)]
    assert len(errors) == 1
    assert errors[0].message
    assert "sk-test" not in answer.response.text
    assert answer.thread_id is not None
    stored = await client.get_thread(answer.thread_id)
    assert [item.type for item in stored.items.data] == ["user_message"]
