"""HistoryStore against a live history service: ChatKit's Store contract.

Covers every behaviour chatkit-python's own store tests check, plus per-user
isolation, ChatKit's id prefixes, and a real ``ChatKitServer`` on top. Each test
runs on its own event loop while the store is made once, outside any loop, as
chatkit-python's suite does; so the store must follow the loop it is called on.
"""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from chatkit.store import NotFoundError, StoreItemType
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    ImageAttachment,
    InferenceOptions,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from chatkit.widgets import Card, Col, Text
from pydantic import AnyUrl

from shared.history_client import HistoryClient, HistoryConflict
from shared.history_store import HistoryStore
from shared.ids import new_id

pytestmark = pytest.mark.asyncio(loop_scope="function")


@dataclass(frozen=True)
class RequestContext:
    user_id: str


def naive(seconds: float = 0) -> datetime:
    # ChatKit itself stamps items with naive datetime.now(); they must come back
    # exactly as given (naive), or loaded items would not equal saved ones.
    return datetime(2026, 3, 1, 9, 30) + timedelta(seconds=seconds)  # noqa: DTZ001


@pytest.fixture(scope="module")
def store(history_url: str) -> HistoryStore:
    return HistoryStore(history_url)


@pytest_asyncio.fixture(loop_scope="function", autouse=True)
async def close_client_of_this_loop(store: HistoryStore) -> AsyncIterator[None]:
    yield
    await store.aclose()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(user_id=f"usr_{uuid.uuid4().hex}")


@pytest.fixture
def other_ctx() -> RequestContext:
    return RequestContext(user_id=f"usr_{uuid.uuid4().hex}")


def a_thread(seconds: float = 0, title: str | None = "Trip plans") -> ThreadMetadata:
    return ThreadMetadata(
        id=new_id("thr"),
        title=title,
        created_at=naive(seconds),
        metadata={"source": "contract"},
    )


def a_user_message(thread_id: str, text: str, seconds: float = 0) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=naive(seconds),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def a_conversation(thread_id: str) -> list[ThreadItem]:
    question = a_user_message(thread_id, "What should I pack?")
    question.attachments = [
        FileAttachment(
            id=new_id("atc"),
            name="list.txt",
            mime_type="text/plain",
            metadata={"origin": "upload"},
        )
    ]
    answer = AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=naive(1),
        content=[AssistantMessageContent(text="A warm coat.")],
    )
    card = WidgetItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=naive(2),
        widget=Card(
            children=[
                Col(
                    padding={"x": 2, "y": 1},
                    children=[
                        Text(value="Packing", weight="semibold"),
                        Text(value="coat"),
                    ],
                )
            ]
        ),
    )
    return [question, answer, card]


async def saved_thread_with(
    store: HistoryStore, ctx: RequestContext, items: int
) -> tuple[ThreadMetadata, list[str]]:
    thread = a_thread()
    await store.save_thread(thread, ctx)
    ids = []
    for n in range(items):
        item = a_user_message(thread.id, str(n), seconds=n)
        await store.add_thread_item(thread.id, item, ctx)
        ids.append(item.id)
    return thread, ids


def ids(page: Any) -> list[str]:
    return [entry.id for entry in page.data]


# threads


async def test_saved_thread_loads_back_equal(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread = a_thread()
    thread.allowed_image_domains = ["cdn.example"]

    await store.save_thread(thread, ctx)

    assert await store.load_thread(thread.id, ctx) == thread


async def test_thread_without_title_loads_without_title(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread = a_thread(title=None)

    await store.save_thread(thread, ctx)

    loaded = await store.load_thread(thread.id, ctx)
    assert loaded.title is None
    assert loaded.metadata == thread.metadata


async def test_saving_a_thread_again_updates_it(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread = a_thread()
    await store.save_thread(thread, ctx)

    thread.title = "Renamed"
    await store.save_thread(thread, ctx)

    assert (await store.load_thread(thread.id, ctx)).title == "Renamed"


async def test_loading_a_missing_thread_raises_not_found(
    store: HistoryStore, ctx: RequestContext
) -> None:
    with pytest.raises(NotFoundError):
        await store.load_thread(new_id("thr"), ctx)


async def test_thread_pages_report_more_and_the_cursor(
    store: HistoryStore, ctx: RequestContext
) -> None:
    threads = [a_thread(seconds=n) for n in range(3)]
    for thread in threads:
        await store.save_thread(thread, ctx)
    expected = [thread.id for thread in threads]

    first = await store.load_threads(limit=2, after=None, order="asc", context=ctx)
    rest = await store.load_threads(
        limit=2, after=first.after, order="asc", context=ctx
    )
    newest = await store.load_threads(limit=2, after=None, order="desc", context=ctx)

    assert (ids(first), first.has_more, first.after) == (
        expected[:2],
        True,
        expected[1],
    )
    assert (ids(rest), rest.has_more) == (expected[2:], False)
    assert not rest.after
    assert ids(newest) == expected[:0:-1]


async def test_thread_page_limit_beyond_the_cap_still_answers(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread = a_thread()
    await store.save_thread(thread, ctx)

    page = await store.load_threads(limit=10_000, after=None, order="desc", context=ctx)

    assert (ids(page), page.has_more) == ([thread.id], False)


async def test_deleting_a_thread_removes_it_and_its_items(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, [item_id] = await saved_thread_with(store, ctx, items=1)

    await store.delete_thread(thread.id, ctx)

    with pytest.raises(NotFoundError):
        await store.load_thread(thread.id, ctx)
    with pytest.raises(NotFoundError):
        await store.load_item(thread.id, item_id, ctx)
    await store.delete_thread(thread.id, ctx)


# items


async def test_added_items_load_back_equal_in_order(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread = a_thread()
    await store.save_thread(thread, ctx)
    items = a_conversation(thread.id)

    for item in items:
        await store.add_thread_item(thread.id, item, ctx)

    page = await store.load_thread_items(thread.id, None, 10, "asc", ctx)
    assert page.data == items
    assert page.has_more is False


async def test_items_come_in_ascending_or_descending_order(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, item_ids = await saved_thread_with(store, ctx, items=3)

    asc = await store.load_thread_items(thread.id, None, 3, "asc", ctx)
    desc = await store.load_thread_items(thread.id, None, 3, "desc", ctx)

    assert ids(asc) == item_ids
    assert ids(desc) == item_ids[::-1]


async def test_item_cursor_is_exclusive_and_pages_report_more(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, item_ids = await saved_thread_with(store, ctx, items=5)

    after_second = await store.load_thread_items(
        thread.id, after=item_ids[1], limit=3, order="asc", context=ctx
    )
    first_two = await store.load_thread_items(
        thread.id, after=None, limit=2, order="asc", context=ctx
    )

    assert (ids(after_second), after_second.has_more) == (item_ids[2:], False)
    assert not after_second.after
    assert (ids(first_two), first_two.has_more) == (item_ids[:2], True)
    assert first_two.after == item_ids[1]


async def test_saving_an_item_replaces_it_keeping_its_type(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread = a_thread()
    await store.save_thread(thread, ctx)
    _, answer, card = a_conversation(thread.id)
    assert isinstance(answer, AssistantMessageItem)
    answer.content = []
    await store.add_thread_item(thread.id, answer, ctx)
    await store.add_thread_item(thread.id, card, ctx)

    answer.content = [AssistantMessageContent(text="Now with text.")]
    await store.save_item(thread.id, answer, ctx)
    await store.save_item(thread.id, card, ctx)

    loaded_answer = await store.load_item(thread.id, answer.id, ctx)
    loaded_card = await store.load_item(thread.id, card.id, ctx)
    assert isinstance(loaded_answer, AssistantMessageItem)
    assert loaded_answer.content == [AssistantMessageContent(text="Now with text.")]
    assert isinstance(loaded_card, WidgetItem)
    assert loaded_card == card


async def test_saving_a_new_item_inserts_it(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, _ = await saved_thread_with(store, ctx, items=0)
    item = a_user_message(thread.id, "upserted")

    await store.save_item(thread.id, item, ctx)

    assert await store.load_item(thread.id, item.id, ctx) == item


async def test_loading_a_missing_item_raises_not_found(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, _ = await saved_thread_with(store, ctx, items=1)

    with pytest.raises(NotFoundError):
        await store.load_item(thread.id, "does_not_exist", ctx)


async def test_adding_an_existing_item_id_raises_conflict(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, [item_id] = await saved_thread_with(store, ctx, items=1)
    again = a_user_message(thread.id, "again").model_copy(update={"id": item_id})

    with pytest.raises(HistoryConflict):
        await store.add_thread_item(thread.id, again, ctx)


async def test_deleting_an_item_removes_only_that_item(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, [first, second] = await saved_thread_with(store, ctx, items=2)

    await store.delete_thread_item(thread.id, first, ctx)
    await store.delete_thread_item(thread.id, first, ctx)

    page = await store.load_thread_items(thread.id, None, 10, "asc", ctx)
    assert ids(page) == [second]


async def test_unknown_order_is_refused(
    store: HistoryStore, ctx: RequestContext
) -> None:
    with pytest.raises(ValueError, match="order"):
        await store.load_threads(10, None, "newest", ctx)


# attachments


async def test_file_attachment_loads_back_equal(
    store: HistoryStore, ctx: RequestContext
) -> None:
    file = FileAttachment(id=new_id("atc"), name="notes.txt", mime_type="text/plain")

    await store.save_attachment(file, ctx)

    assert await store.load_attachment(file.id, ctx) == file


async def test_image_attachment_loads_back_equal(
    store: HistoryStore, ctx: RequestContext
) -> None:
    image = ImageAttachment(
        id=new_id("atc"),
        name="map.png",
        mime_type="image/png",
        preview_url=AnyUrl("https://example.com/map.png"),
        metadata={"source": "contract"},
    )

    await store.save_attachment(image, ctx)

    assert await store.load_attachment(image.id, ctx) == image


async def test_deleted_attachment_is_not_found(
    store: HistoryStore, ctx: RequestContext
) -> None:
    file = FileAttachment(id=new_id("atc"), name="a.txt", mime_type="text/plain")
    await store.save_attachment(file, ctx)

    await store.delete_attachment(file.id, ctx)
    await store.delete_attachment(file.id, ctx)

    with pytest.raises(NotFoundError):
        await store.load_attachment(file.id, ctx)


# isolation


async def test_another_user_cannot_see_the_thread(
    store: HistoryStore, ctx: RequestContext, other_ctx: RequestContext
) -> None:
    thread, _ = await saved_thread_with(store, ctx, items=0)

    with pytest.raises(NotFoundError):
        await store.load_thread(thread.id, other_ctx)
    page = await store.load_threads(20, None, "desc", other_ctx)
    assert page.data == []
    assert (await store.load_thread(thread.id, ctx)).title == thread.title


async def test_another_user_sees_no_items_of_the_thread(
    store: HistoryStore, ctx: RequestContext, other_ctx: RequestContext
) -> None:
    thread, [item_id] = await saved_thread_with(store, ctx, items=1)

    page = await store.load_thread_items(thread.id, None, 10, "asc", other_ctx)

    assert page.data == []
    with pytest.raises(NotFoundError):
        await store.load_item(thread.id, item_id, other_ctx)


async def test_another_user_cannot_write_into_or_delete_the_thread(
    store: HistoryStore, ctx: RequestContext, other_ctx: RequestContext
) -> None:
    thread, [item_id] = await saved_thread_with(store, ctx, items=1)

    with pytest.raises(NotFoundError):
        await store.add_thread_item(
            thread.id, a_user_message(thread.id, "x"), other_ctx
        )
    with pytest.raises(HistoryConflict):
        await store.save_thread(thread.model_copy(update={"title": "x"}), other_ctx)
    await store.delete_thread_item(thread.id, item_id, other_ctx)
    await store.delete_thread(thread.id, other_ctx)

    assert (await store.load_thread(thread.id, ctx)).title == thread.title
    assert ids(await store.load_thread_items(thread.id, None, 5, "asc", ctx)) == [
        item_id
    ]


async def test_another_user_cannot_load_or_delete_the_attachment(
    store: HistoryStore, ctx: RequestContext, other_ctx: RequestContext
) -> None:
    file = FileAttachment(id=new_id("atc"), name="a.txt", mime_type="text/plain")
    await store.save_attachment(file, ctx)

    with pytest.raises(NotFoundError):
        await store.load_attachment(file.id, other_ctx)
    await store.delete_attachment(file.id, other_ctx)

    assert await store.load_attachment(file.id, ctx) == file


# ids and contexts

ID_PATTERN = re.compile(r"^(?P<prefix>[a-z]+)_[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("item_type", "prefix"),
    [
        ("message", "msg"),
        ("tool_call", "tc"),
        ("task", "tsk"),
        ("workflow", "wf"),
        ("attachment", "atc"),
        ("sdk_hidden_context", "shcx"),
    ],
)
async def test_generated_ids_use_chatkit_prefixes_with_128_random_bits(
    store: HistoryStore, ctx: RequestContext, item_type: StoreItemType, prefix: str
) -> None:
    thread_id = store.generate_thread_id(ctx)
    thread = a_thread()

    item_match = ID_PATTERN.match(store.generate_item_id(item_type, thread, ctx))
    thread_match = ID_PATTERN.match(thread_id)

    assert item_match is not None
    assert item_match["prefix"] == prefix
    assert thread_match is not None
    assert thread_match["prefix"] == "thr"


async def test_subclass_id_generators_are_used(
    history_url: str, ctx: RequestContext
) -> None:
    class NumberedStore(HistoryStore):
        counter = 0

        def generate_thread_id(self, context: Any) -> str:
            self.counter += 1
            return f"thr_custom_{self.counter}"

    custom = NumberedStore(history_url)

    assert [custom.generate_thread_id(ctx) for _ in range(2)] == [
        "thr_custom_1",
        "thr_custom_2",
    ]


async def test_any_object_or_mapping_with_a_user_id_is_a_context(
    store: HistoryStore, ctx: RequestContext
) -> None:
    thread, _ = await saved_thread_with(store, ctx, items=0)

    by_namespace = await store.load_thread(
        thread.id, SimpleNamespace(user_id=ctx.user_id)
    )
    by_mapping = await store.load_thread(thread.id, {"user_id": ctx.user_id})

    assert by_namespace == by_mapping == thread


@pytest.mark.parametrize("context", [None, {}, SimpleNamespace(user_id=""), object()])
async def test_context_without_a_user_id_is_refused(
    store: HistoryStore, context: object
) -> None:
    with pytest.raises(TypeError, match="user_id"):
        await store.load_threads(20, None, "desc", context)


# event loops and clients


def _save_and_load_in_a_fresh_loop(store: HistoryStore, ctx: RequestContext) -> str:
    # No aclose(): the client of this loop is left behind, as a test suite
    # that builds the store in a sync setup method leaves it.
    async def roundtrip() -> str:
        thread = a_thread()
        await store.save_thread(thread, ctx)
        loaded = await store.load_thread(thread.id, ctx)
        return loaded.id

    return asyncio.run(roundtrip())


async def test_store_works_from_event_loops_used_in_turn(
    history_url: str, ctx: RequestContext
) -> None:
    shared_store = HistoryStore(history_url)

    first = await asyncio.to_thread(_save_and_load_in_a_fresh_loop, shared_store, ctx)
    second = await asyncio.to_thread(_save_and_load_in_a_fresh_loop, shared_store, ctx)
    page = await shared_store.load_threads(10, None, "asc", ctx)
    await shared_store.aclose()

    assert sorted(ids(page)) == sorted([first, second])


async def test_store_from_an_existing_client_uses_that_client(
    history_url: str, ctx: RequestContext
) -> None:
    client = HistoryClient(history_url)
    try:
        over_client = HistoryStore.from_client(client)
        thread = a_thread()
        await over_client.save_thread(thread, ctx)

        assert over_client.client() is client
        assert (await client.get_thread(ctx.user_id, thread.id)).thread == thread
    finally:
        await client.aclose()
