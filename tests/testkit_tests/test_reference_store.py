"""The reference app's in-memory store pages, scopes and orders like a real one."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    ThreadMetadata,
)

from testkit.reference_app.memory_store import MemoryStore


@dataclass(frozen=True)
class User:
    user_id: str


ALICE, BOB = User("alice"), User("bob")
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def message(index: int, thread_id: str = "thr_1") -> AssistantMessageItem:
    return AssistantMessageItem(
        id=f"msg_{index}",
        thread_id=thread_id,
        created_at=START + timedelta(seconds=index),
        content=[AssistantMessageContent(text=str(index))],
    )


@pytest.fixture
async def store() -> MemoryStore[User]:
    memory: MemoryStore[User] = MemoryStore()
    await memory.save_thread(ThreadMetadata(id="thr_1", created_at=START), ALICE)
    for index in range(5):
        await memory.add_thread_item("thr_1", message(index), ALICE)
    return memory


async def test_items_page_both_ways_with_an_exclusive_cursor(
    store: MemoryStore[User],
) -> None:
    first = await store.load_thread_items("thr_1", None, 2, "desc", ALICE)
    assert [i.id for i in first.data] == ["msg_4", "msg_3"]
    assert (first.has_more, first.after) == (True, "msg_3")
    rest = await store.load_thread_items("thr_1", "msg_3", 5, "desc", ALICE)
    assert [i.id for i in rest.data] == ["msg_2", "msg_1", "msg_0"]
    assert (rest.has_more, rest.after) == (False, None)
    forward = await store.load_thread_items("thr_1", "msg_1", 2, "asc", ALICE)
    assert [i.id for i in forward.data] == ["msg_2", "msg_3"]


async def test_naive_sdk_times_and_aware_times_sort_together(
    store: MemoryStore[User],
) -> None:
    # Two days later in any local time zone, but without one, as the SDK stamps.
    later = (START + timedelta(days=2)).replace(tzinfo=None)
    naive = message(9).model_copy(update={"id": "msg_naive", "created_at": later})
    await store.add_thread_item("thr_1", naive, ALICE)
    newest = await store.load_thread_items("thr_1", None, 1, "desc", ALICE)
    assert [i.id for i in newest.data] == ["msg_naive"]


async def test_another_user_sees_nothing_of_alices(store: MemoryStore[User]) -> None:
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_1", BOB)
    with pytest.raises(NotFoundError):
        await store.load_thread_items("thr_1", None, 10, "asc", BOB)
    with pytest.raises(NotFoundError):
        await store.save_thread(ThreadMetadata(id="thr_1", created_at=START), BOB)
    assert (await store.load_threads(10, None, "desc", BOB)).data == []
    attachment = FileAttachment(id="atc_1", name="a.txt", mime_type="text/plain")
    await store.save_attachment(attachment, ALICE)
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_1", BOB)


async def test_save_item_replaces_in_place_and_delete_removes(
    store: MemoryStore[User],
) -> None:
    changed = message(2).model_copy(
        update={"content": [AssistantMessageContent(text="new")]}
    )
    await store.save_item("thr_1", changed, ALICE)
    await store.delete_thread_item("thr_1", "msg_0", ALICE)
    items = (await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data
    assert [i.id for i in items] == ["msg_1", "msg_2", "msg_3", "msg_4"]
    assert items[1] == changed
    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "msg_0", ALICE)
