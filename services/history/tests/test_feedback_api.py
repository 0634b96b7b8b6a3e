from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from asyncpg.connection import LoggedQuery
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FeedbackKind,
    ThreadMetadata,
)

from history.store import items
from shared.history_api import ErrorBody, FeedbackWrite, RunOpen
from shared.history_client import HistoryClient, HistoryNotFound
from shared.ids import new_id

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def answer(thread_id: str, seconds: int = 0) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=T0 + timedelta(seconds=seconds),
        content=[AssistantMessageContent(text=f"answer {seconds}")],
    )


async def thread_with_answers(
    client: HistoryClient, user_id: str, count: int
) -> tuple[str, list[str]]:
    thread = ThreadMetadata(id=new_id("thr"), created_at=T0)
    await client.save_thread(user_id, thread)
    ids = []
    for n in range(count):
        item = answer(thread.id, seconds=n)
        await client.add_item(user_id, thread.id, item)
        ids.append(item.id)
    return thread.id, ids


async def rate(
    client: HistoryClient,
    user_id: str,
    thread_id: str,
    item_ids: list[str],
    kind: FeedbackKind,
) -> None:
    write = FeedbackWrite(item_ids=item_ids, kind=kind)
    await client.save_feedback(user_id, thread_id, write)


async def feedback_of(client: HistoryClient, user_id: str, thread_id: str) -> list[Any]:
    page = await client.list_items(user_id, thread_id)
    return [record.feedback for record in page.data]


async def feedback_rows(db: "asyncpg.Pool[asyncpg.Record]", user_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM feedback WHERE user_id = $1", user_id
    )
    return count


async def test_feedback_shows_on_the_rated_items_in_pages_and_gets(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, (first, second, third) = await thread_with_answers(client, user_id, 3)

    await rate(client, user_id, thread_id, [first, third], "positive")

    assert await feedback_of(client, user_id, thread_id) == [
        "positive",
        None,
        "positive",
    ]
    newest = await client.list_items(user_id, thread_id, limit=2, order="desc")
    assert [record.feedback for record in newest.data] == ["positive", None]
    assert (await client.get_item(user_id, thread_id, third)).feedback == "positive"
    assert (await client.get_item(user_id, thread_id, second)).feedback is None


async def test_last_verdict_on_an_item_wins(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, [item_id] = await thread_with_answers(client, user_id, 1)

    await rate(client, user_id, thread_id, [item_id], "positive")
    await rate(client, user_id, thread_id, [item_id], "negative")

    assert (await client.get_item(user_id, thread_id, item_id)).feedback == "negative"
    row = await db.fetchrow(
        "SELECT conversation_id, created_at, updated_at FROM feedback"
        " WHERE user_id = $1 AND item_id = $2",
        user_id,
        item_id,
    )
    assert row is not None
    assert row["conversation_id"] == thread_id
    assert row["updated_at"] > row["created_at"]


async def test_repeated_item_ids_in_one_verdict_count_once(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, [item_id] = await thread_with_answers(client, user_id, 1)

    await rate(client, user_id, thread_id, [item_id, item_id], "negative")

    assert await feedback_of(client, user_id, thread_id) == ["negative"]


async def test_verdict_naming_an_unknown_item_writes_nothing(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, [item_id] = await thread_with_answers(client, user_id, 1)

    with pytest.raises(HistoryNotFound):
        await rate(client, user_id, thread_id, [item_id, new_id("msg")], "positive")

    assert await feedback_rows(db, user_id) == 0


async def test_verdict_naming_an_item_of_another_thread_writes_nothing(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, [mine] = await thread_with_answers(client, user_id, 1)
    _, [elsewhere] = await thread_with_answers(client, user_id, 1)

    with pytest.raises(HistoryNotFound):
        await rate(client, user_id, thread_id, [mine, elsewhere], "positive")

    assert await feedback_rows(db, user_id) == 0


async def test_another_user_cannot_rate_items_of_a_thread_not_theirs(
    client: HistoryClient,
    user_id: str,
    other_user_id: str,
    db: "asyncpg.Pool[asyncpg.Record]",
) -> None:
    thread_id, [item_id] = await thread_with_answers(client, user_id, 1)

    with pytest.raises(HistoryNotFound):
        await rate(client, other_user_id, thread_id, [item_id], "negative")
    with pytest.raises(HistoryNotFound):
        await rate(client, user_id, new_id("thr"), [item_id], "negative")

    assert await feedback_rows(db, other_user_id) == 0
    assert await feedback_of(client, user_id, thread_id) == [None]


async def test_deleting_an_item_deletes_its_feedback(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, [gone, kept] = await thread_with_answers(client, user_id, 2)
    await rate(client, user_id, thread_id, [gone, kept], "positive")

    await client.delete_item(user_id, thread_id, gone)

    assert await feedback_rows(db, user_id) == 1
    assert await feedback_of(client, user_id, thread_id) == ["positive"]


async def test_deleting_a_thread_deletes_its_feedback(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, item_ids = await thread_with_answers(client, user_id, 2)
    await rate(client, user_id, thread_id, item_ids, "negative")

    await client.delete_thread(user_id, thread_id)

    assert await feedback_rows(db, user_id) == 0


async def test_truncating_a_thread_deletes_feedback_on_the_removed_items(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, [anchor, later] = await thread_with_answers(client, user_id, 2)
    await rate(client, user_id, thread_id, [anchor, later], "positive")

    await client.open_run(
        user_id, RunOpen(thread_id=thread_id, truncate_after_item_id=anchor)
    )

    assert await feedback_rows(db, user_id) == 1
    assert await feedback_of(client, user_id, thread_id) == ["positive"]


async def test_overwriting_an_item_keeps_its_feedback(
    client: HistoryClient, user_id: str
) -> None:
    thread_id, [item_id] = await thread_with_answers(client, user_id, 1)
    await rate(client, user_id, thread_id, [item_id], "positive")

    rewritten = answer(thread_id).model_copy(update={"id": item_id})
    await client.save_item(user_id, thread_id, rewritten)

    assert (await client.get_item(user_id, thread_id, item_id)).feedback == "positive"


async def test_item_page_with_feedback_is_read_in_one_statement(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    thread_id, item_ids = await thread_with_answers(client, user_id, 5)
    await rate(client, user_id, thread_id, item_ids[::2], "positive")
    statements: list[str] = []

    def record_statement(logged: LoggedQuery) -> None:
        statements.append(logged.query)

    async with db.acquire() as conn:
        conn.add_query_logger(record_statement)
        try:
            page = await items.list_items(
                conn, user_id, thread_id, limit=5, after=None, order="asc"
            )
        finally:
            conn.remove_query_logger(record_statement)

    assert [record.feedback for record in page.data] == [
        "positive",
        None,
        "positive",
        None,
        "positive",
    ]
    assert len(statements) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"item_ids": [], "kind": "positive"},
        {"item_ids": ["msg_1"], "kind": "meh"},
        {"item_ids": ["msg_1"]},
        {"item_ids": "msg_1", "kind": "positive"},
        {"item_ids": [f"msg_{n}" for n in range(101)], "kind": "positive"},
    ],
)
async def test_malformed_feedback_gets_a_json_422(
    client: HistoryClient,
    http: httpx.AsyncClient,
    user_id: str,
    body: dict[str, object],
) -> None:
    thread_id, _ = await thread_with_answers(client, user_id, 1)

    response = await http.put(
        f"/threads/{thread_id}/feedback", json=body, headers={"X-User-Id": user_id}
    )

    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate_json(response.content).error == "invalid_request"
