"""RunOpen.idempotency_key: a retried open answers the first run and writes nothing."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from shared.history_api import ErrorBody, RunOpen, RunRecord, RunUpdate
from shared.history_client import HistoryClient, HistoryNotFound
from shared.ids import new_id

CONCURRENT_OPENS = 8


def thread_meta() -> ThreadMetadata:
    return ThreadMetadata(id=new_id("thr"), created_at=datetime.now(UTC))


def user_item(thread_id: str, text: str = "hello") -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def create(key: str | None = None) -> RunOpen:
    """A ``threads.create`` open: a freshly minted thread each time, as the gateway."""
    thread = thread_meta()
    return RunOpen(
        thread_id=thread.id,
        new_thread=thread,
        user_item=user_item(thread.id),
        kind="create",
        idempotency_key=key,
    )


async def post_open(
    http: httpx.AsyncClient, user_id: str, opening: RunOpen
) -> httpx.Response:
    return await http.post(
        "/runs",
        content=opening.model_dump_json(exclude_none=True),
        headers={"X-User-Id": user_id, "content-type": "application/json"},
    )


async def test_open_records_its_kind_user_item_and_queued_lease(
    client: HistoryClient, user_id: str
) -> None:
    opening = create()
    opening.lease_s = 300
    before = datetime.now(UTC)

    run = await client.open_run(user_id, opening)

    assert opening.user_item is not None
    assert (run.kind, run.user_item_id) == ("create", opening.user_item.id)
    assert (run.cancel_requested, run.last_seq, run.reused) == (False, 0, False)
    assert run.lease_expires_at is not None
    assert before + timedelta(seconds=295) < run.lease_expires_at
    assert run.lease_expires_at < datetime.now(UTC) + timedelta(seconds=305)
    assert await client.get_run(user_id, run.id) == run


async def test_open_with_a_known_key_answers_the_same_run_and_stores_one_item(
    client: HistoryClient, http: httpx.AsyncClient, user_id: str
) -> None:
    thread = thread_meta()
    await client.save_thread(user_id, thread)
    key = new_key()
    first_open = RunOpen(
        thread_id=thread.id, user_item=user_item(thread.id), idempotency_key=key
    )
    retry = RunOpen(
        thread_id=thread.id, user_item=user_item(thread.id), idempotency_key=key
    )

    first = await post_open(http, user_id, first_open)
    again = await post_open(http, user_id, retry)

    assert (first.status_code, again.status_code) == (201, 200)
    opened = RunRecord.model_validate_json(first.content)
    reused = RunRecord.model_validate_json(again.content)
    assert (opened.reused, reused.reused) == (False, True)
    assert reused.model_copy(update={"reused": False}) == opened
    items = (await client.list_items(user_id, thread.id)).data
    assert [record.item for record in items] == [first_open.user_item]


async def test_known_key_answers_its_finished_run_instead_of_opening_another(
    client: HistoryClient, user_id: str
) -> None:
    key = new_key()
    first = await client.open_run(user_id, create(key))
    await client.update_run(user_id, first.id, RunUpdate(status="completed"))

    again = await client.open_run(user_id, create(key))

    assert (again.id, again.status, again.reused) == (first.id, "completed", True)
    latest = await client.latest_run(user_id, first.thread_id)
    assert latest.fencing_token == first.fencing_token


async def test_retried_create_with_a_known_key_creates_no_second_thread(
    client: HistoryClient, user_id: str
) -> None:
    key = new_key()
    first = await client.open_run(user_id, create(key))
    retry = create(key)

    again = await client.open_run(user_id, retry)

    assert (again.id, again.thread_id) == (first.id, first.thread_id)
    with pytest.raises(HistoryNotFound):
        await client.get_thread(user_id, retry.thread_id)
    assert [t.thread.id for t in (await client.list_threads(user_id)).data] == [
        first.thread_id
    ]


async def test_same_key_of_another_user_opens_that_users_own_run(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    key = new_key()
    mine = await client.open_run(user_id, create(key))

    theirs = await client.open_run(other_user_id, create(key))

    assert theirs.id != mine.id
    assert theirs.reused is False
    with pytest.raises(HistoryNotFound):
        await client.get_run(other_user_id, mine.id)


async def test_concurrent_opens_with_one_key_on_one_thread_all_answer_one_run(
    client: HistoryClient, user_id: str
) -> None:
    thread = thread_meta()
    await client.save_thread(user_id, thread)
    key = new_key()
    opens = [
        client.open_run(
            user_id,
            RunOpen(
                thread_id=thread.id, user_item=user_item(thread.id), idempotency_key=key
            ),
        )
        for _ in range(CONCURRENT_OPENS)
    ]

    results = await asyncio.gather(*opens)

    assert len({run.id for run in results}) == 1
    assert sum(not run.reused for run in results) == 1
    assert len((await client.list_items(user_id, thread.id)).data) == 1


async def test_concurrent_creates_with_one_key_all_answer_one_run_on_one_thread(
    client: HistoryClient, user_id: str
) -> None:
    key = new_key()

    results = await asyncio.gather(
        *(client.open_run(user_id, create(key)) for _ in range(CONCURRENT_OPENS))
    )

    assert len({(run.id, run.thread_id) for run in results}) == 1
    assert sum(not run.reused for run in results) == 1
    assert len((await client.list_threads(user_id)).data) == 1


async def test_empty_idempotency_key_is_a_json_422(
    http: httpx.AsyncClient, user_id: str
) -> None:
    response = await post_open(http, user_id, create(""))

    assert response.status_code == 422
    assert (
        ErrorBody.model_validate_json(response.content).error
        == "invalid_idempotency_key"
    )


async def test_lookup_by_key_answers_the_run_that_key_opened(
    client: HistoryClient, user_id: str
) -> None:
    key = new_key()
    opened = await client.open_run(user_id, create(key))
    await client.open_run(user_id, create(new_key()))  # another key, another run

    found = await client.run_by_idempotency_key(user_id, key)

    assert found == opened
    assert found.reused is False


async def test_lookup_by_unknown_key_is_not_found(
    client: HistoryClient, user_id: str
) -> None:
    await client.open_run(user_id, create(new_key()))

    with pytest.raises(HistoryNotFound):
        await client.run_by_idempotency_key(user_id, new_key())


async def test_lookup_by_another_users_key_is_not_found(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    key = new_key()
    await client.open_run(other_user_id, create(key))

    with pytest.raises(HistoryNotFound):
        await client.run_by_idempotency_key(user_id, key)


@pytest.mark.parametrize("odd", ["a/b/../c", "..", "?q=1#frag", "100%25 sure", "é ü"])
async def test_lookup_finds_keys_with_url_special_characters(
    client: HistoryClient, user_id: str, odd: str
) -> None:
    opened = await client.open_run(user_id, create(odd))

    assert await client.run_by_idempotency_key(user_id, odd) == opened
