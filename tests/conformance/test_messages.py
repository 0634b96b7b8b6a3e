"""``threads.create`` and ``threads.add_user_message``: frames, answer, storage."""

import uuid

import httpx
from chatkit.types import (
    AssistantMessageItem,
    ErrorEvent,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    UserMessageItem,
    WorkflowItem,
)

from testkit.chatkit_client import ChatKitClient, user_input
from testkit.model_script import FAIL_MARKER, FAKE_SECRET

from .frames import TEXT_MESSAGE, TOOL_WORKFLOW, assert_refused, done_items, signature
from .targets import Target

MISSING_THREAD = f"thr_{uuid.uuid4().hex}"


async def test_create_streams_thread_user_item_options_then_the_answer(
    target: Target, client: ChatKitClient
) -> None:
    stream = await client.create_thread("hello conformance")

    assert signature(stream.events) == [
        "thread.created",
        "thread.item.done:user_message",
        "stream_options",
        *TEXT_MESSAGE,
    ]
    created = stream.events[0]
    assert created.type == "thread.created"
    thread = created.thread
    assert thread.items.data == []
    assert thread.metadata == {}
    assert thread.status.type == "active"
    # Ours titles a new thread from its first message; the SDK leaves the title
    # unset unless respond() sets one.
    assert thread.title == ("hello conformance" if target.ours else None)
    options = stream.events[2]
    assert options.type == "stream_options"
    assert options.stream_options.allow_cancel is True
    assert stream.assistant_text() == "Echo: hello conformance (user turns: 1)"

    user, answer = done_items(stream)
    assert isinstance(user, UserMessageItem)
    assert [part.text for part in user.content] == ["hello conformance"]
    assert user.attachments == []
    assert isinstance(answer, AssistantMessageItem)
    assert {user.thread_id, answer.thread_id} == {thread.id}
    stored = await client.list_items(thread.id, order="asc")
    assert stored.data == [user, answer]
    assert stored.has_more is False


async def test_add_user_message_streams_user_item_then_answer_with_thread_context(
    client: ChatKitClient,
) -> None:
    first = await client.create_thread("first")
    assert first.thread_id is not None

    second = await client.add_user_message(first.thread_id, "second")

    assert signature(second.events) == [
        "thread.item.done:user_message",
        "stream_options",
        *TEXT_MESSAGE,
    ]
    assert second.assistant_text() == "Echo: second (user turns: 2)"
    stored = (await client.list_items(first.thread_id, order="asc")).data
    assert stored == [*done_items(first), *done_items(second)]


async def test_a_server_tool_turn_answers_with_the_tool_result(
    target: Target, client: ChatKitClient
) -> None:
    stream = await client.create_thread("add task water the plants")

    assert '"title": "water the plants"' in stream.assistant_text()
    assert stream.assistant_text().startswith("Tool said: ")
    stored = (await client.list_items(stream.thread_id or "", order="asc")).data
    if target.ours:
        # Ours shows tool activity as one workflow item per turn (and stores it,
        # with the calls, so the next turn's model input has them); the SDK's
        # stream_agent_response shows and stores nothing for server tool calls.
        expected = [*TOOL_WORKFLOW, *TEXT_MESSAGE]
        workflow = stored[1]
        assert isinstance(workflow, WorkflowItem)
        assert [task.type for task in workflow.workflow.tasks] == ["custom"]
        assert [item.type for item in stored] == [
            "user_message",
            "workflow",
            "assistant_message",
        ]
    else:
        expected = TEXT_MESSAGE
        assert [item.type for item in stored] == ["user_message", "assistant_message"]
    assert signature(stream.events)[3:] == expected


async def test_add_user_message_to_an_unknown_thread_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    req = ThreadsAddUserMessageReq.model_validate(
        {
            "params": {
                "thread_id": MISSING_THREAD,
                "input": user_input("anyone?").model_dump(),
            }
        }
    )
    # The SDK's load_thread raises after the 200 headers: the connection drops.
    await assert_refused(target, client, req, ours=(404, "not_found"), sdk="dropped")


async def test_add_user_message_to_another_users_thread_is_refused_and_stores_nothing(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    stream = await client.create_thread("mine")
    assert stream.thread_id is not None
    req = ThreadsAddUserMessageReq.model_validate(
        {
            "params": {
                "thread_id": stream.thread_id,
                "input": user_input("let me in").model_dump(),
            }
        }
    )
    await assert_refused(target, intruder, req, ours=(404, "not_found"), sdk="dropped")
    stored = (await client.list_items(stream.thread_id)).data
    assert len(stored) == 2


async def test_a_request_without_a_valid_bearer_token_is_401(
    http: httpx.AsyncClient,
) -> None:
    # Authentication is the integrator's in the SDK; the reference app checks
    # the same bearer token as our gateway, so both answer 401 before anything.
    body = ThreadsCreateReq.model_validate(
        {"params": {"input": user_input("hi").model_dump()}}
    ).model_dump_json()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await http.post("/chatkit", content=body, headers=headers)
        assert response.status_code == 401, response.text


async def test_a_malformed_request_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    # The SDK validates inside process(): pydantic raises, the framework answers
    # a bare 500. Ours says which field is wrong, as a 422 JSON error.
    body = {"type": "threads.create", "params": {"input": {"content": 5}}}
    await assert_refused(
        target, client, body, ours=(422, "invalid_request"), sdk="crash"
    )


async def test_a_model_failure_ends_in_a_retryable_error_and_keeps_the_message(
    client: ChatKitClient,
) -> None:
    stream = await client.create_thread(f"boom {FAIL_MARKER}")

    assert signature(stream.events) == [
        "thread.created",
        "thread.item.done:user_message",
        "stream_options",
        "error:stream.error",
    ]
    error = stream.events[-1]
    assert isinstance(error, ErrorEvent)
    assert error.allow_retry is True
    assert error.message is None
    assert FAKE_SECRET not in stream.response.text
    stored = (await client.list_items(stream.thread_id or "")).data
    assert stored == done_items(stream)
