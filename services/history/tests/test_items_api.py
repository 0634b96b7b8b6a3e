import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    CustomTask,
    HiddenContextItem,
    InferenceOptions,
    SDKHiddenContextItem,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    Workflow,
    WorkflowItem,
)

from shared.history_api import ErrorBody, ItemPage, ToolCallRecord
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound
from shared.ids import new_id

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def user_message(thread_id: str, text: str, seconds: int = 0) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=seconds),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def assistant_message(
    thread_id: str, *texts: str, seconds: int = 0
) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=seconds),
        content=[AssistantMessageContent(text=text) for text in texts],
    )


async def new_thread(client: HistoryClient, user_id: str) -> str:
    thread = ThreadMetadata(id=new_id("thr"), created_at=T0)
    await client.save_thread(user_id, thread)
    return thread.id


async def add_messages(
    client: HistoryClient, user_id: str, thread_id: str, count: int
) -> list[str]:
    ids = []
    for n in range(count):
        item = user_message(thread_id, f"message {n}", seconds=n)
        await client.add_item(user_id, thread_id, item)
        ids.append(item.id)
    return ids


def ids_of(page: ItemPage) -> list[str]:
    return [record.item.id for record in page.data]


async def test_items_load_back_unchanged_in_creation_order_hidden_ones_too(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    items: list[ThreadItem] = [
        user_message(thread_id, "hi", seconds=0),
        HiddenContextItem(
            id=new_id("msg"), thread_id=thread_id, created_at=T0, content={"k": 1}
        ),
        assistant_message(thread_id, "hello", seconds=2),
        SDKHiddenContextItem(
            id=new_id("shcx"),
            thread_id=thread_id,
            created_at=T0 + timedelta(seconds=3),
            content="cancelled",
        ),
    ]
    for item in items:
        await client.add_item(user_id, thread_id, item)

    page = await client.list_items(user_id, thread_id)

    assert [record.item for record in page.data] == items
    assert page.has_more is False


async def test_items_created_in_the_same_instant_keep_insertion_order(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    ids = []
    for text in ("c", "a", "b"):
        item = user_message(thread_id, text)
        await client.add_item(user_id, thread_id, item)
        ids.append(item.id)

    ascending = await client.list_items(user_id, thread_id, order="asc")
    descending = await client.list_items(user_id, thread_id, order="desc")

    assert ids_of(ascending) == ids
    assert ids_of(descending) == ids[::-1]


async def test_item_pages_follow_the_cursor_both_ways(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    ids = await add_messages(client, user_id, thread_id, 5)

    first = await client.list_items(user_id, thread_id, limit=2)
    second = await client.list_items(user_id, thread_id, limit=2, after=first.after)
    third = await client.list_items(user_id, thread_id, limit=2, after=second.after)
    newest = await client.list_items(user_id, thread_id, limit=3, order="desc")
    older = await client.list_items(
        user_id, thread_id, limit=3, order="desc", after=newest.after
    )

    assert (ids_of(first), first.has_more, first.after) == (ids[:2], True, ids[1])
    assert (ids_of(second), second.has_more, second.after) == (ids[2:4], True, ids[3])
    assert (ids_of(third), third.has_more, third.after) == (ids[4:], False, None)
    assert (ids_of(newest), newest.after) == (ids[:1:-1], ids[2])
    assert (ids_of(older), older.has_more) == ([ids[1], ids[0]], False)


async def test_page_of_exactly_limit_items_has_no_more(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    ids = await add_messages(client, user_id, thread_id, 3)

    page = await client.list_items(user_id, thread_id, limit=3)

    assert (ids_of(page), page.has_more, page.after) == (ids, False, None)


async def test_empty_thread_has_an_empty_item_page(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)

    assert await client.list_items(user_id, thread_id) == ItemPage()


async def test_unknown_item_cursor_gives_an_empty_page(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    await add_messages(client, user_id, thread_id, 2)

    page = await client.list_items(user_id, thread_id, after=new_id("msg"))

    assert page == ItemPage()


async def test_adding_an_item_id_twice_is_a_conflict(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    item = user_message(thread_id, "once")
    await client.add_item(user_id, thread_id, item)

    with pytest.raises(HistoryConflict) as refused:
        await client.add_item(user_id, thread_id, item)

    assert refused.value.status == 409
    assert len((await client.list_items(user_id, thread_id)).data) == 1


async def test_saving_an_item_overwrites_it_in_place(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    first, second = await add_messages(client, user_id, thread_id, 2)
    changed = assistant_message(thread_id, "rewritten", seconds=99).model_copy(
        update={"id": first}
    )

    await client.save_item(user_id, thread_id, changed)

    page = await client.list_items(user_id, thread_id)
    assert ids_of(page) == [first, second]
    assert page.data[0].item == changed


async def test_saving_a_new_item_inserts_it(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    item = assistant_message(thread_id, "fresh")

    await client.save_item(user_id, thread_id, item)

    assert (await client.get_item(user_id, thread_id, item.id)).item == item


async def test_item_ids_of_another_thread_cannot_be_overwritten(
    client: HistoryClient, user_id: str
) -> None:
    first_thread = await new_thread(client, user_id)
    second_thread = await new_thread(client, user_id)
    [item_id] = await add_messages(client, user_id, first_thread, 1)
    intruder = assistant_message(second_thread, "x").model_copy(update={"id": item_id})

    with pytest.raises(HistoryConflict):
        await client.save_item(user_id, second_thread, intruder)
    with pytest.raises(HistoryNotFound):
        await client.get_item(user_id, second_thread, item_id)


async def test_tool_calls_round_trip_with_their_item(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    workflow = WorkflowItem(
        id=new_id("wf"),
        thread_id=thread_id,
        created_at=T0,
        workflow=Workflow(type="custom", tasks=[CustomTask(title="add_task")]),
    )
    calls = [
        ToolCallRecord(
            call_id="call_1", name="add_task", arguments='{"title":"x"}', output="ok"
        )
    ]

    await client.add_item(user_id, thread_id, workflow, tool_calls=calls)

    record = await client.get_item(user_id, thread_id, workflow.id)
    assert (record.item, record.tool_calls) == (workflow, calls)


async def test_seed_columns_hold_role_text_and_tool_calls(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id = await new_thread(client, user_id)
    question = UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=T0,
        content=[
            UserMessageTextContent(text="ask "),
            UserMessageTagContent(id="p1", text="@Ann", data={}),
        ],
        inference_options=InferenceOptions(),
    )
    answer = assistant_message(thread_id, "one", "two", seconds=1)
    call = ToolCallRecord(call_id="c", name="list_tasks", arguments="{}", output="[]")
    await client.add_item(user_id, thread_id, question)
    await client.add_item(user_id, thread_id, answer, tool_calls=[call])

    rows = await db.fetch(
        "SELECT role, content, tool_calls FROM messages"
        " WHERE conversation_id = $1 ORDER BY seq",
        thread_id,
    )

    assert [tuple(row) for row in rows] == [
        ("user", "ask @Ann", []),
        ("assistant", "one\n\ntwo", [call.model_dump()]),
    ]


async def test_item_writes_bump_the_threads_updated_at(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    before = (await client.get_thread(user_id, thread_id)).updated_at

    [item_id] = await add_messages(client, user_id, thread_id, 1)
    after_add = (await client.get_thread(user_id, thread_id)).updated_at
    await client.delete_item(user_id, thread_id, item_id)
    after_delete = (await client.get_thread(user_id, thread_id)).updated_at

    assert before < after_add < after_delete


async def test_deleted_item_is_gone_and_deleting_again_is_not_found(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    first, second = await add_messages(client, user_id, thread_id, 2)

    await client.delete_item(user_id, thread_id, first)

    assert ids_of(await client.list_items(user_id, thread_id)) == [second]
    with pytest.raises(HistoryNotFound):
        await client.delete_item(user_id, thread_id, first)
    with pytest.raises(HistoryNotFound):
        await client.get_item(user_id, thread_id, first)


async def test_another_users_items_are_not_found(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    [item_id] = await add_messages(client, user_id, thread_id, 1)

    with pytest.raises(HistoryNotFound):
        await client.list_items(other_user_id, thread_id)
    with pytest.raises(HistoryNotFound):
        await client.get_item(other_user_id, thread_id, item_id)
    with pytest.raises(HistoryNotFound):
        await client.delete_item(other_user_id, thread_id, item_id)
    with pytest.raises(HistoryNotFound):
        await client.add_item(other_user_id, thread_id, user_message(thread_id, "x"))
    with pytest.raises(HistoryNotFound):
        await client.save_item(other_user_id, thread_id, user_message(thread_id, "x"))
    assert ids_of(await client.list_items(user_id, thread_id)) == [item_id]


async def test_items_of_a_missing_thread_are_not_found(
    client: HistoryClient, user_id: str
) -> None:
    missing = new_id("thr")

    with pytest.raises(HistoryNotFound):
        await client.list_items(user_id, missing)
    with pytest.raises(HistoryNotFound):
        await client.add_item(user_id, missing, user_message(missing, "x"))


def _item_body(thread_id: str, **changes: Any) -> dict[str, Any]:
    item = user_message(thread_id, "x").model_dump(mode="json")
    item.update(changes)
    return {"item": item}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"type": "telepathy"}, "invalid_request"),
        ({"content": "not a list"}, "invalid_request"),
        ({"created_at": None}, "invalid_request"),
        ({"id": 42}, "invalid_request"),
        ({"content": [{"type": "input_text", "text": "a\u0000b"}]}, "invalid_value"),
        ({"content": [{"type": "input_text", "text": "\ud800"}]}, "invalid_value"),
    ],
)
async def test_malformed_item_gets_a_json_4xx(
    client: HistoryClient,
    http: httpx.AsyncClient,
    user_id: str,
    changes: dict[str, Any],
    error: str,
) -> None:
    thread_id = await new_thread(client, user_id)

    # json.dumps escapes a lone surrogate as \ud800, as a sloppy client would.
    response = await http.post(
        f"/threads/{thread_id}/items",
        content=json.dumps(_item_body(thread_id, **changes)),
        headers={"X-User-Id": user_id, "content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate_json(response.content).error == error
    assert (await client.list_items(user_id, thread_id)).data == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "order=up", "after=" + "x" * 201]
)
async def test_bad_item_page_parameters_get_a_json_422(
    client: HistoryClient, http: httpx.AsyncClient, user_id: str, query: str
) -> None:
    thread_id = await new_thread(client, user_id)

    response = await http.get(
        f"/threads/{thread_id}/items?{query}", headers={"X-User-Id": user_id}
    )

    assert response.status_code == 422
    assert ErrorBody.model_validate_json(response.content).error == "invalid_request"


async def test_item_with_an_absurdly_long_id_gets_a_json_422(
    client: HistoryClient, http: httpx.AsyncClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)

    response = await http.post(
        f"/threads/{thread_id}/items",
        json=_item_body(thread_id, id="m" * 5000),
        headers={"X-User-Id": user_id},
    )

    assert response.status_code == 422
    assert ErrorBody.model_validate_json(response.content).error == "invalid_id"


async def test_saving_an_item_under_another_id_is_refused(
    client: HistoryClient, http: httpx.AsyncClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)

    response = await http.put(
        f"/threads/{thread_id}/items/msg_other",
        json=_item_body(thread_id),
        headers={"X-User-Id": user_id},
    )

    assert response.status_code == 422
    assert ErrorBody.model_validate_json(response.content).error == "id_mismatch"
