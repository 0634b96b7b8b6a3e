"""``threads.add_client_tool_output``: the browser answers a pending tool call."""

import uuid

from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    ThreadsAddClientToolOutputReq,
)

from testkit.chatkit_client import ChatKitClient

from .frames import TEXT_MESSAGE, assert_refused, done_items, signature
from .targets import Target

TIMEZONE_QUESTION = "what is my timezone"
BROWSER_ANSWER = {"timezone": "Europe/Paris"}


def output_req(thread_id: str) -> ThreadsAddClientToolOutputReq:
    return ThreadsAddClientToolOutputReq.model_validate(
        {"params": {"thread_id": thread_id, "result": BROWSER_ANSWER}}
    )


async def pending_call(client: ChatKitClient) -> tuple[str, ClientToolCallItem]:
    """A thread whose turn ended waiting for the browser's time zone."""
    stream = await client.create_thread(TIMEZONE_QUESTION)
    assert stream.thread_id is not None
    call = done_items(stream)[-1]
    assert isinstance(call, ClientToolCallItem), signature(stream.events)
    return stream.thread_id, call


async def test_a_client_tool_turn_ends_with_a_pending_call_then_continues_with_output(
    client: ChatKitClient,
) -> None:
    asked = await client.create_thread(TIMEZONE_QUESTION)
    assert asked.thread_id is not None
    assert signature(asked.events) == [
        "thread.created",
        "thread.item.done:user_message",
        "stream_options",
        "thread.item.done:client_tool_call",
    ]
    call = done_items(asked)[-1]
    assert isinstance(call, ClientToolCallItem)
    assert (call.name, call.arguments, call.status) == (
        "get_user_timezone",
        {},
        "pending",
    )
    assert call.call_id

    answered = await client.add_client_tool_output(asked.thread_id, BROWSER_ANSWER)

    assert signature(answered.events) == ["stream_options", *TEXT_MESSAGE]
    assert answered.assistant_text() == 'Tool said: {"timezone": "Europe/Paris"}'
    user, stored_call, answer = (
        await client.list_items(asked.thread_id, order="asc")
    ).data
    assert user == done_items(asked)[0]
    assert isinstance(stored_call, ClientToolCallItem)
    assert stored_call.id == call.id
    assert (stored_call.status, stored_call.output) == ("completed", BROWSER_ANSWER)
    assert isinstance(answer, AssistantMessageItem)
    assert answer == done_items(answered)[-1]


async def test_older_pending_client_tool_calls_are_dropped_when_the_newest_is_answered(
    client: ChatKitClient,
) -> None:
    thread_id, older = await pending_call(client)
    again = await client.add_user_message(thread_id, TIMEZONE_QUESTION)
    newer = done_items(again)[-1]
    assert isinstance(newer, ClientToolCallItem)

    await client.add_client_tool_output(thread_id, BROWSER_ANSWER)

    calls = [
        item
        for item in (await client.list_items(thread_id, order="asc")).data
        if isinstance(item, ClientToolCallItem)
    ]
    assert [(c.id, c.status) for c in calls] == [(newer.id, "completed")]
    assert older.id != newer.id


async def test_output_without_a_pending_call_as_newest_item_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    answered = await client.create_thread("no tools here")
    assert answered.thread_id is not None
    # The SDK raises ValueError after the 200 headers: the connection drops.
    await assert_refused(
        target,
        client,
        output_req(answered.thread_id),
        ours=(409, "no_pending_client_tool_call"),
        sdk="dropped",
    )
    thread_id, _ = await pending_call(client)
    await client.add_user_message(thread_id, "never mind")
    # Only the newest item counts: a pending call further back cannot be answered.
    await assert_refused(
        target,
        client,
        output_req(thread_id),
        ours=(409, "no_pending_client_tool_call"),
        sdk="dropped",
    )


async def test_output_for_an_unknown_or_foreign_thread_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    thread_id, call = await pending_call(client)
    missing = output_req(f"thr_{uuid.uuid4().hex}")
    await assert_refused(
        target, client, missing, ours=(404, "not_found"), sdk="dropped"
    )
    await assert_refused(
        target, intruder, output_req(thread_id), ours=(404, "not_found"), sdk="dropped"
    )
    newest = (await client.list_items(thread_id, limit=1, order="desc")).data
    assert newest == [call]
