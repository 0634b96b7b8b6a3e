"""RunOpen's item edits: applied with the run in one transaction, or not at all."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    InferenceOptions,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from shared.history_api import ErrorBody, RunOpen, ToolCallRecord
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound
from shared.ids import new_id

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

Snapshot = tuple[list[ThreadItem], datetime, str | None]


def user_message(thread_id: str, text: str, seconds: int = 0) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=seconds),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def assistant_message(
    thread_id: str, text: str, seconds: int = 0
) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=seconds),
        content=[AssistantMessageContent(text=text)],
    )


def pending_call(thread_id: str, seconds: int = 0) -> ClientToolCallItem:
    return ClientToolCallItem(
        id=new_id("tc"),
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=seconds),
        status="pending",
        call_id=new_id("tc"),
        name="get_user_timezone",
        arguments={},
    )


async def thread_with(
    client: HistoryClient, user_id: str, *texts: str, same_instant: bool = False
) -> tuple[str, list[str]]:
    """A thread holding one user message per text, one second apart (or not)."""
    thread = ThreadMetadata(id=new_id("thr"), created_at=T0)
    await client.save_thread(user_id, thread)
    ids = []
    for n, text in enumerate(texts):
        item = user_message(thread.id, text, seconds=0 if same_instant else n)
        await client.add_item(user_id, thread.id, item)
        ids.append(item.id)
    return thread.id, ids


async def item_ids(client: HistoryClient, user_id: str, thread_id: str) -> list[str]:
    page = await client.list_items(user_id, thread_id, limit=1000)
    return [record.item.id for record in page.data]


async def snapshot(client: HistoryClient, user_id: str, thread_id: str) -> Snapshot:
    """Everything an atomic refusal must leave as it was."""
    page = await client.list_items(user_id, thread_id, limit=1000)
    record = await client.get_thread(user_id, thread_id)
    return (
        [item.item for item in page.data],
        record.updated_at,
        record.active_run_id,
    )


async def test_truncation_keeps_the_anchor_and_everything_before_it(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b", "c", "d", "e")

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, truncate_after_item_id=ids[2])
    )

    assert await item_ids(client, user_id, thread_id) == ids[:3]


async def test_truncation_follows_insertion_order_within_one_instant(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(
        client, user_id, "a", "b", "c", "d", same_instant=True
    )

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, truncate_after_item_id=ids[1])
    )

    assert await item_ids(client, user_id, thread_id) == ids[:2]


async def test_truncation_after_the_newest_item_deletes_nothing(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b")

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, truncate_after_item_id=ids[-1])
    )

    assert await item_ids(client, user_id, thread_id) == ids


async def test_truncation_spares_the_new_user_item_of_the_same_open(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b", "c")
    again = user_message(thread_id, "again").model_copy(
        update={"created_at": datetime.now(UTC)}
    )

    await client.open_run(
        user_id,
        RunOpen(thread_id=thread_id, truncate_after_item_id=ids[0], user_item=again),
    )

    assert await item_ids(client, user_id, thread_id) == [ids[0], again.id]


async def test_truncation_leaves_other_threads_alone(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b")
    other_id, other_ids = await thread_with(client, user_id, "x", "y")

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, truncate_after_item_id=ids[0])
    )

    assert await item_ids(client, user_id, other_id) == other_ids


async def test_truncating_after_a_foreign_item_is_not_found_and_writes_nothing(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, _ = await thread_with(client, user_id, "a", "b")
    _, [elsewhere] = await thread_with(client, user_id, "x")
    before = await snapshot(client, user_id, thread_id)

    for anchor in (elsewhere, new_id("msg")):
        with pytest.raises(HistoryNotFound):
            await client.open_run(
                user_id,
                RunOpen(
                    thread_id=thread_id,
                    truncate_after_item_id=anchor,
                    user_item=user_message(thread_id, "lost"),
                ),
            )

    assert await snapshot(client, user_id, thread_id) == before


async def test_saved_items_overwrite_in_place_and_new_ones_are_added(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, [first, second] = await thread_with(client, user_id, "a", "b")
    rewritten = assistant_message(thread_id, "rewritten").model_copy(
        update={"id": first}
    )
    added = assistant_message(thread_id, "added", seconds=10)

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, save_items=[rewritten, added])
    )

    page = await client.list_items(user_id, thread_id)
    assert page.data[0].item == rewritten
    assert [record.item.id for record in page.data] == [first, second, added.id]
    assert [record.content for record in page.data] == ["rewritten", "b", "added"]


async def test_saved_item_keeps_the_tool_calls_stored_with_it(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, _ = await thread_with(client, user_id)
    call = pending_call(thread_id)
    recorded = ToolCallRecord(
        call_id="call_1", name="ask_priority", arguments="{}", output="asked"
    )
    await client.add_item(user_id, thread_id, call, tool_calls=[recorded])
    completed = call.model_copy(update={"status": "completed", "output": "UTC"})

    await client.open_run(user_id, RunOpen(thread_id=thread_id, save_items=[completed]))

    record = await client.get_item(user_id, thread_id, call.id)
    assert (record.item, record.tool_calls) == (completed, [recorded])


async def test_saving_an_item_id_of_another_thread_is_a_conflict_and_writes_nothing(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, [mine] = await thread_with(client, user_id, "a")
    other_id, [theirs] = await thread_with(client, user_id, "x")
    before = await snapshot(client, user_id, thread_id)
    other_before = await snapshot(client, user_id, other_id)
    intruder = assistant_message(thread_id, "intruder").model_copy(
        update={"id": theirs}
    )

    with pytest.raises(HistoryConflict) as refused:
        await client.open_run(
            user_id,
            RunOpen(
                thread_id=thread_id,
                truncate_after_item_id=mine,
                delete_item_ids=[mine],
                save_items=[assistant_message(thread_id, "lost"), intruder],
                user_item=user_message(thread_id, "lost"),
            ),
        )

    assert '"id_taken"' in str(refused.value)
    assert await snapshot(client, user_id, thread_id) == before
    assert await snapshot(client, user_id, other_id) == other_before


async def test_deleted_items_go_and_ids_outside_the_thread_are_ignored(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b", "c")
    other_id, [elsewhere] = await thread_with(client, user_id, "x")
    foreign_id, [foreign] = await thread_with(client, other_user_id, "y")

    await client.open_run(
        user_id,
        RunOpen(
            thread_id=thread_id,
            delete_item_ids=[ids[0], ids[2], elsewhere, foreign, new_id("msg")],
        ),
    )

    assert await item_ids(client, user_id, thread_id) == [ids[1]]
    assert await item_ids(client, user_id, other_id) == [elsewhere]
    assert await item_ids(client, other_user_id, foreign_id) == [foreign]


async def test_pending_calls_deleted_and_answer_saved_in_the_same_open(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, [question] = await thread_with(client, user_id, "what is my timezone")
    answered, dangling = pending_call(thread_id, 1), pending_call(thread_id, 2)
    for call in (answered, dangling):
        await client.add_item(user_id, thread_id, call)
    completed = answered.model_copy(update={"status": "completed", "output": "UTC"})

    await client.open_run(
        user_id,
        RunOpen(
            thread_id=thread_id, save_items=[completed], delete_item_ids=[dangling.id]
        ),
    )

    page = await client.list_items(user_id, thread_id)
    assert [record.item.id for record in page.data] == [question, answered.id]
    assert page.data[1].item == completed


async def test_busy_thread_refuses_the_open_and_applies_no_edit(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b", "c")
    running = await client.open_run(user_id, RunOpen(thread_id=thread_id))
    before = await snapshot(client, user_id, thread_id)

    with pytest.raises(HistoryConflict) as refused:
        await client.open_run(
            user_id,
            RunOpen(
                thread_id=thread_id,
                truncate_after_item_id=ids[0],
                delete_item_ids=[ids[1]],
                save_items=[assistant_message(thread_id, "lost", seconds=9)],
                user_item=user_message(thread_id, "lost"),
            ),
        )

    assert '"thread_busy"' in str(refused.value)
    assert await snapshot(client, user_id, thread_id) == before
    assert before[2] == running.id


async def test_refused_open_leaves_the_thread_free_for_the_next_one(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, _ = await thread_with(client, user_id, "a")
    with pytest.raises(HistoryNotFound):
        await client.open_run(
            user_id, RunOpen(thread_id=thread_id, truncate_after_item_id="msg_nope")
        )

    run = await client.open_run(user_id, RunOpen(thread_id=thread_id))

    assert run.fencing_token == 1


async def test_refused_new_thread_open_stores_no_thread(
    client: HistoryClient, user_id: str
) -> None:
    thread = ThreadMetadata(id=new_id("thr"), created_at=T0)

    with pytest.raises(HistoryNotFound):
        await client.open_run(
            user_id,
            RunOpen(
                thread_id=thread.id,
                new_thread=thread,
                user_item=user_message(thread.id, "lost"),
                truncate_after_item_id=new_id("msg"),
            ),
        )

    with pytest.raises(HistoryNotFound):
        await client.get_thread(user_id, thread.id)


async def test_edits_bump_the_threads_updated_at(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b")
    before = (await client.get_thread(user_id, thread_id)).updated_at

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, truncate_after_item_id=ids[0])
    )

    assert (await client.get_thread(user_id, thread_id)).updated_at > before


async def test_another_user_cannot_edit_items_through_a_run_open(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    thread_id, ids = await thread_with(client, user_id, "a", "b")
    before = await snapshot(client, user_id, thread_id)

    with pytest.raises(HistoryNotFound):
        await client.open_run(
            other_user_id,
            RunOpen(
                thread_id=thread_id,
                truncate_after_item_id=ids[0],
                delete_item_ids=ids,
                save_items=[assistant_message(thread_id, "x")],
            ),
        )

    assert await snapshot(client, user_id, thread_id) == before


async def test_saved_item_with_an_absurdly_long_id_gets_a_json_422(
    client: HistoryClient, http: httpx.AsyncClient, user_id: str
) -> None:
    thread_id, _ = await thread_with(client, user_id)
    item = assistant_message(thread_id, "x").model_copy(update={"id": "m" * 5000})
    body = RunOpen(thread_id=thread_id, save_items=[item])

    response = await http.post(
        "/runs",
        content=body.model_dump_json(),
        headers={"X-User-Id": user_id, "content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate_json(response.content).error == "invalid_id"
    assert (await client.get_thread(user_id, thread_id)).active_run_id is None
