"""ChatKit's JSON ops against stored conversations: get, list, items, update, delete."""

from collections.abc import Callable

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import ITEM_PAGE

ClientFactory = Callable[[str], ChatKitClient]


async def new_thread(client: ChatKitClient, text: str) -> str:
    stream = await client.create_thread(text)
    assert stream.thread_id is not None
    return stream.thread_id


async def test_get_by_id_returns_the_thread_with_its_oldest_items_first(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    thread_id = await new_thread(client, "first question")
    await client.add_user_message(thread_id, "second question")

    thread = await client.get_thread(thread_id)

    assert thread.id == thread_id
    assert thread.title == "first question"
    assert thread.status.type == "active"
    assert thread.metadata == {}
    kinds = [item.type for item in thread.items.data]
    assert kinds == ["user_message", "assistant_message"] * 2
    assert thread.items.has_more is False


async def test_threads_list_pages_newest_first_with_a_cursor(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    created = [await new_thread(client, f"thread {n}") for n in range(3)]

    first = await client.list_threads(limit=2)
    assert [t.id for t in first.data] == created[::-1][:2]
    assert first.has_more is True
    assert first.after == created[1]
    assert all(t.items.data == [] for t in first.data)

    rest = await client.list_threads(limit=2, after=first.after)
    assert [t.id for t in rest.data] == [created[0]]
    assert rest.has_more is False

    oldest_first = await client.list_threads(order="asc")
    assert [t.id for t in oldest_first.data] == created


async def test_threads_list_with_exactly_limit_threads_has_no_more(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    assert (await client.list_threads()).data == []
    created = [await new_thread(client, f"t{n}") for n in range(2)]
    page = await client.list_threads(limit=2)
    assert {t.id for t in page.data} == set(created)
    assert page.has_more is False


async def test_items_list_defaults_to_newest_first_and_pages(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    thread_id = await new_thread(client, "one")
    await client.add_user_message(thread_id, "two")
    oldest_first = (await client.list_items(thread_id, order="asc")).data
    assert len(oldest_first) == 4

    response = await client.post(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 3}}
    )
    assert response.status_code == 200
    newest = ITEM_PAGE.validate_json(response.content)
    assert [i.id for i in newest.data] == [i.id for i in oldest_first[::-1][:3]]
    assert newest.has_more is True
    assert newest.after == oldest_first[1].id
    last = await client.list_items(thread_id, limit=3, order="desc", after=newest.after)
    assert [i.id for i in last.data] == [oldest_first[0].id]
    assert last.has_more is False


async def test_threads_update_renames_and_the_new_title_is_stored(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    thread_id = await new_thread(client, "about cats")
    renamed = await client.update_thread(thread_id, "Cats, renamed")
    assert renamed.title == "Cats, renamed"
    assert renamed.items.data == []
    assert (await client.get_thread(thread_id)).title == "Cats, renamed"


async def test_threads_delete_removes_the_thread_and_its_items(
    client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    thread_id = await new_thread(client, "short lived")
    await client.delete_thread(thread_id)
    for body in (
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        {"type": "items.list", "params": {"thread_id": thread_id}},
        {"type": "threads.delete", "params": {"thread_id": thread_id}},
    ):
        response = await client.post(body)
        assert response.status_code == 404, body
        assert response.json()["error"]
    assert thread_id not in {t.id for t in (await client.list_threads()).data}
