"""The JSON ops on stored threads: get_by_id, list, items.list, update, delete."""

import uuid

from chatkit.types import (
    ItemsListReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsUpdateReq,
)

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import ITEM_PAGE, THREAD_PAGE

from .frames import assert_refused, done_items
from .targets import Target

MISSING_THREAD = f"thr_{uuid.uuid4().hex}"
SDK_PAGE_SIZE = 20
"""``DEFAULT_PAGE_SIZE`` of the SDK: get_by_id's items, list defaults."""


async def new_thread(client: ChatKitClient, text: str) -> str:
    stream = await client.create_thread(text)
    assert stream.thread_id is not None
    return stream.thread_id


async def test_get_by_id_returns_the_thread_with_its_oldest_items_first(
    target: Target, client: ChatKitClient
) -> None:
    first = await client.create_thread("one")
    thread_id = first.thread_id
    assert thread_id is not None
    second = await client.add_user_message(thread_id, "two")

    thread = await client.get_thread(thread_id)

    assert thread.id == thread_id
    assert thread.status.type == "active"
    assert thread.metadata == {}
    assert thread.items.data == [*done_items(first), *done_items(second)]
    assert thread.items.has_more is False
    # Ours titles threads from their first message (see test_messages).
    assert thread.title == ("one" if target.ours else None)


async def test_get_by_id_holds_the_oldest_twenty_items_and_says_there_are_more(
    client: ChatKitClient,
) -> None:
    thread_id = await new_thread(client, "turn 0")
    for turn in range(1, 11):
        await client.add_user_message(thread_id, f"turn {turn}")

    thread = await client.get_thread(thread_id)

    oldest = (await client.list_items(thread_id, limit=50, order="asc")).data
    assert len(oldest) == 22
    assert thread.items.data == oldest[:SDK_PAGE_SIZE]
    assert thread.items.has_more is True


async def test_get_by_id_of_an_unknown_or_foreign_thread_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    thread_id = await new_thread(client, "private")
    # The SDK lets the store's NotFoundError out of process(): a bare 500.
    for who, wanted in ((client, MISSING_THREAD), (intruder, thread_id)):
        req = ThreadsGetByIdReq.model_validate({"params": {"thread_id": wanted}})
        await assert_refused(target, who, req, ours=(404, "not_found"), sdk="crash")


async def test_threads_list_pages_newest_first_with_a_cursor_per_user(
    client: ChatKitClient, intruder: ChatKitClient
) -> None:
    created = [await new_thread(client, f"thread {n}") for n in range(3)]

    first = await client.list_threads(limit=2)
    assert [t.id for t in first.data] == created[::-1][:2]
    assert first.has_more is True
    assert first.after == created[1]
    assert all(t.items.data == [] and t.metadata == {} for t in first.data)
    rest = await client.list_threads(limit=2, after=first.after)
    assert [t.id for t in rest.data] == [created[0]]
    assert rest.has_more is False
    oldest_first = await client.list_threads(order="asc")
    assert [t.id for t in oldest_first.data] == created
    assert (await intruder.list_threads()).data == []


async def test_threads_list_defaults_to_newest_first(client: ChatKitClient) -> None:
    created = [await new_thread(client, f"t{n}") for n in range(2)]
    # A raw body: a request model would serialize its default order explicitly.
    response = await client.post({"type": "threads.list", "params": {}})
    assert response.status_code == 200
    page = THREAD_PAGE.validate_json(response.content)
    assert [t.id for t in page.data] == created[::-1]
    assert page.has_more is False


async def test_items_list_defaults_to_newest_first_and_pages_both_ways(
    client: ChatKitClient,
) -> None:
    thread_id = await new_thread(client, "one")
    await client.add_user_message(thread_id, "two")
    oldest_first = (await client.list_items(thread_id, order="asc")).data
    assert len(oldest_first) == 4

    response = await client.post(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 3}}
    )
    assert response.status_code == 200
    newest = ITEM_PAGE.validate_json(response.content)
    assert newest.data == oldest_first[::-1][:3]
    assert newest.has_more is True
    assert newest.after == oldest_first[1].id
    last = await client.list_items(thread_id, limit=3, order="desc", after=newest.after)
    assert last.data == [oldest_first[0]]
    assert last.has_more is False
    forward = await client.list_items(
        thread_id, limit=2, order="asc", after=oldest_first[0].id
    )
    assert forward.data == oldest_first[1:3]
    assert forward.has_more is True


async def test_items_list_of_an_unknown_or_foreign_thread_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    thread_id = await new_thread(client, "private")
    for who, wanted in ((client, MISSING_THREAD), (intruder, thread_id)):
        req = ItemsListReq.model_validate({"params": {"thread_id": wanted}})
        await assert_refused(target, who, req, ours=(404, "not_found"), sdk="crash")


async def test_threads_update_renames_and_the_title_is_stored(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    thread_id = await new_thread(client, "about cats")

    renamed = await client.update_thread(thread_id, "Cats, renamed")

    assert renamed.id == thread_id
    assert renamed.title == "Cats, renamed"
    assert renamed.items.data == []
    assert (await client.get_thread(thread_id)).title == "Cats, renamed"
    req = ThreadsUpdateReq.model_validate(
        {"params": {"thread_id": thread_id, "title": "pwned"}}
    )
    await assert_refused(target, intruder, req, ours=(404, "not_found"), sdk="crash")
    assert (await client.get_thread(thread_id)).title == "Cats, renamed"


async def test_threads_delete_removes_the_thread_and_its_items(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    kept = await new_thread(client, "kept")
    doomed = await new_thread(client, "short lived")
    delete = ThreadsDeleteReq.model_validate({"params": {"thread_id": doomed}})
    # Another user cannot delete it: ours 404, the SDK's store raises (500).
    await assert_refused(target, intruder, delete, ours=(404, "not_found"), sdk="crash")
    assert len((await client.list_items(doomed)).data) == 2

    await client.delete_thread(doomed)

    for req in (
        ThreadsGetByIdReq.model_validate({"params": {"thread_id": doomed}}),
        ItemsListReq.model_validate({"params": {"thread_id": doomed}}),
        delete,
    ):
        await assert_refused(target, client, req, ours=(404, "not_found"), sdk="crash")
    assert [t.id for t in (await client.list_threads()).data] == [kept]
