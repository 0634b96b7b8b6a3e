"""``threads.retry_after_item``: drop what followed a user message, answer it again."""

import uuid

from chatkit.types import ThreadsRetryAfterItemReq, UserMessageItem

from testkit.chatkit_client import ChatKitClient

from .frames import TEXT_MESSAGE, assert_refused, done_items, signature
from .targets import Target


def retry_req(thread_id: str, item_id: str) -> ThreadsRetryAfterItemReq:
    return ThreadsRetryAfterItemReq.model_validate(
        {"params": {"thread_id": thread_id, "item_id": item_id}}
    )


async def test_retry_removes_later_items_silently_and_answers_that_message_again(
    client: ChatKitClient,
) -> None:
    first = await client.create_thread("first")
    assert first.thread_id is not None
    await client.add_user_message(first.thread_id, "second")
    user, old_answer = done_items(first)

    retried = await client.retry_after_item(first.thread_id, user.id)

    # No thread.item.removed events: the client drops the later items itself.
    assert signature(retried.events) == ["stream_options", *TEXT_MESSAGE]
    assert retried.assistant_text() == "Echo: first (user turns: 1)"
    new_answer = done_items(retried)[-1]
    assert new_answer.id != old_answer.id
    stored = (await client.list_items(first.thread_id, order="asc")).data
    assert stored == [user, new_answer]


async def test_retry_after_the_last_message_keeps_every_earlier_turn(
    client: ChatKitClient,
) -> None:
    first = await client.create_thread("one")
    assert first.thread_id is not None
    second = await client.add_user_message(first.thread_id, "two")
    user = done_items(second)[0]
    assert isinstance(user, UserMessageItem)

    retried = await client.retry_after_item(first.thread_id, user.id)

    assert retried.assistant_text() == "Echo: two (user turns: 2)"
    stored = (await client.list_items(first.thread_id, order="asc")).data
    assert stored == [*done_items(first), user, done_items(retried)[-1]]


async def test_retry_after_an_unknown_item_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    stream = await client.create_thread("hello")
    assert stream.thread_id is not None
    # The SDK finds no such item, deletes nothing and streams nothing at all.
    req = retry_req(stream.thread_id, f"msg_{uuid.uuid4().hex}")
    await assert_refused(
        target, client, req, ours=(404, "not_found"), sdk="empty_stream"
    )
    assert (await client.list_items(stream.thread_id, order="asc")).data == (
        done_items(stream)
    )


async def test_retry_after_a_non_user_item_is_refused_and_deletes_nothing(
    target: Target, client: ChatKitClient
) -> None:
    first = await client.create_thread("one")
    assert first.thread_id is not None
    second = await client.add_user_message(first.thread_id, "two")
    answer = done_items(first)[-1]
    # The SDK raises ValueError after the 200 headers (the connection drops),
    # though only once it has walked back to that item, deleting nothing.
    req = retry_req(first.thread_id, answer.id)
    await assert_refused(target, client, req, ours=(422, None), sdk="dropped")
    stored = (await client.list_items(first.thread_id, order="asc")).data
    assert stored == [*done_items(first), *done_items(second)]


async def test_retry_in_a_foreign_thread_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    stream = await client.create_thread("mine")
    assert stream.thread_id is not None
    user = done_items(stream)[0]
    req = retry_req(stream.thread_id, user.id)
    await assert_refused(target, intruder, req, ours=(404, "not_found"), sdk="dropped")
    assert (await client.list_items(stream.thread_id, order="asc")).data == (
        done_items(stream)
    )


async def test_retry_removes_later_items_across_item_pages(
    client: ChatKitClient,
) -> None:
    first = await client.create_thread("turn 0")
    assert first.thread_id is not None
    for turn in range(1, 12):
        await client.add_user_message(first.thread_id, f"turn {turn}")
    assert len((await client.list_items(first.thread_id, limit=100)).data) == 24
    user = done_items(first)[0]

    retried = await client.retry_after_item(first.thread_id, user.id)

    stored = (await client.list_items(first.thread_id, limit=100, order="asc")).data
    assert stored == [user, done_items(retried)[-1]]
