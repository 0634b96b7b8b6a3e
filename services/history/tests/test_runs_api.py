import asyncio
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from shared.history_api import ErrorBody, RunOpen, RunRecord, RunUpdate
from shared.history_client import (
    HistoryClient,
    HistoryConflict,
    HistoryError,
    HistoryNotFound,
)
from shared.ids import new_id

CONCURRENT_OPENS = 8


def thread_meta(thread_id: str | None = None) -> ThreadMetadata:
    return ThreadMetadata(id=thread_id or new_id("thr"), created_at=datetime.now(UTC))


def user_item(thread_id: str, text: str = "hello") -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


async def new_thread(client: HistoryClient, user_id: str) -> str:
    thread = thread_meta()
    await client.save_thread(user_id, thread)
    return thread.id


async def open_first_run(client: HistoryClient, user_id: str) -> RunRecord:
    thread_id = await new_thread(client, user_id)
    return await client.open_run(user_id, RunOpen(thread_id=thread_id))


async def age_lease(db: "asyncpg.Pool[asyncpg.Record]", run_id: str) -> None:
    await db.execute(
        "UPDATE runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
        run_id,
    )


async def test_opening_a_run_stores_new_thread_user_item_and_queued_run(
    client: HistoryClient, user_id: str
) -> None:
    thread = thread_meta()
    item = user_item(thread.id)

    run = await client.open_run(
        user_id, RunOpen(thread_id=thread.id, new_thread=thread, user_item=item)
    )

    assert (await client.get_thread(user_id, thread.id)).thread == thread
    assert [r.item for r in (await client.list_items(user_id, thread.id)).data] == [
        item
    ]
    assert (run.thread_id, run.status, run.fencing_token) == (thread.id, "queued", 1)
    assert run.id.startswith("run_")
    assert await client.get_run(user_id, run.id) == run


async def test_opening_a_run_on_a_missing_or_foreign_thread_is_not_found(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    missing = new_id("thr")

    with pytest.raises(HistoryNotFound):
        await client.open_run(
            user_id, RunOpen(thread_id=missing, user_item=user_item(missing))
        )
    with pytest.raises(HistoryNotFound):
        await client.open_run(other_user_id, RunOpen(thread_id=thread_id))
    assert (await client.list_items(user_id, thread_id)).data == []


async def test_busy_thread_refuses_a_second_run_and_keeps_nothing_of_it(
    client: HistoryClient, user_id: str
) -> None:
    first = await open_first_run(client, user_id)
    refused_item = user_item(first.thread_id, "too soon")

    with pytest.raises(HistoryConflict) as refused:
        await client.open_run(
            user_id, RunOpen(thread_id=first.thread_id, user_item=refused_item)
        )

    assert '"thread_busy"' in str(refused.value)
    assert (await client.list_items(user_id, first.thread_id)).data == []


async def test_concurrent_opens_on_one_thread_let_exactly_one_through(
    client: HistoryClient, user_id: str
) -> None:
    thread_id = await new_thread(client, user_id)
    opens = [
        client.open_run(
            user_id, RunOpen(thread_id=thread_id, user_item=user_item(thread_id))
        )
        for _ in range(CONCURRENT_OPENS)
    ]

    results = await asyncio.gather(*opens, return_exceptions=True)

    opened = [result for result in results if isinstance(result, RunRecord)]
    refused = [result for result in results if isinstance(result, HistoryConflict)]
    assert (len(opened), len(refused)) == (1, CONCURRENT_OPENS - 1)
    assert len((await client.list_items(user_id, thread_id)).data) == 1


async def test_concurrent_creates_of_one_new_thread_let_exactly_one_through(
    client: HistoryClient, user_id: str
) -> None:
    thread = thread_meta()
    opens = [
        client.open_run(
            user_id,
            RunOpen(
                thread_id=thread.id, new_thread=thread, user_item=user_item(thread.id)
            ),
        )
        for _ in range(CONCURRENT_OPENS)
    ]

    results = await asyncio.gather(*opens, return_exceptions=True)

    assert sum(isinstance(result, RunRecord) for result in results) == 1
    assert sum(isinstance(result, HistoryConflict) for result in results) == (
        CONCURRENT_OPENS - 1
    )


async def test_expired_lease_frees_the_thread_and_fails_the_stale_run(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    stale = await open_first_run(client, user_id)
    await age_lease(db, stale.id)

    fresh = await client.open_run(user_id, RunOpen(thread_id=stale.thread_id))

    expired = await client.get_run(user_id, stale.id)
    assert (expired.status, expired.error) == ("failed", "lease expired")
    assert expired.finished_at is not None
    assert fresh.status == "queued"
    assert fresh.fencing_token > stale.fencing_token


async def test_fencing_tokens_increase_per_thread(
    client: HistoryClient, user_id: str
) -> None:
    first = await open_first_run(client, user_id)
    await client.update_run(user_id, first.id, RunUpdate(status="completed"))

    second = await client.open_run(user_id, RunOpen(thread_id=first.thread_id))
    elsewhere = await open_first_run(client, user_id)

    assert (first.fencing_token, second.fencing_token) == (1, 2)
    assert elsewhere.fencing_token == 1


async def test_run_moves_from_queued_to_running_to_completed(
    client: HistoryClient, user_id: str
) -> None:
    run = await open_first_run(client, user_id)

    running = await client.update_run(
        user_id, run.id, RunUpdate(status="running", worker="worker-1")
    )
    done = await client.update_run(user_id, run.id, RunUpdate(status="completed"))

    assert (running.status, running.worker) == ("running", "worker-1")
    assert running.started_at is not None
    assert running.finished_at is None
    assert (done.status, done.worker, done.started_at) == (
        "completed",
        "worker-1",
        running.started_at,
    )
    assert done.finished_at is not None


async def test_failed_run_keeps_its_error(client: HistoryClient, user_id: str) -> None:
    run = await open_first_run(client, user_id)

    failed = await client.update_run(
        user_id, run.id, RunUpdate(status="failed", error="model unavailable")
    )

    assert (failed.status, failed.error) == ("failed", "model unavailable")


async def test_finished_thread_accepts_a_new_run(
    client: HistoryClient, user_id: str
) -> None:
    run = await open_first_run(client, user_id)
    await client.update_run(user_id, run.id, RunUpdate(status="cancelled"))

    again = await client.open_run(user_id, RunOpen(thread_id=run.thread_id))

    assert again.status == "queued"


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        (["completed"], "running"),
        (["failed"], "completed"),
        (["running"], "running"),
        ([], "queued"),
    ],
)
async def test_run_never_moves_back_or_restarts(
    client: HistoryClient, user_id: str, steps: list[str], refused: str
) -> None:
    run = await open_first_run(client, user_id)
    for status in steps:
        await client.update_run(
            user_id, run.id, RunUpdate.model_validate({"status": status})
        )

    with pytest.raises(HistoryConflict):
        await client.update_run(
            user_id, run.id, RunUpdate.model_validate({"status": refused})
        )


async def test_another_users_run_is_not_found(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    run = await open_first_run(client, user_id)

    with pytest.raises(HistoryNotFound):
        await client.get_run(other_user_id, run.id)
    with pytest.raises(HistoryNotFound):
        await client.update_run(other_user_id, run.id, RunUpdate(status="failed"))
    assert (await client.get_run(user_id, run.id)).status == "queued"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"thread_id": "thr_x", "lease_s": 0}, "invalid_lease"),
        ({"thread_id": "thr_x", "lease_s": 10**12}, "invalid_lease"),
        (
            {
                "thread_id": "thr_x",
                "new_thread": {"id": "thr_y", "created_at": "2026-01-01T00:00:00Z"},
            },
            "id_mismatch",
        ),
        ({"thread_id": 5}, "invalid_request"),
        ({"thread_id": "t" * 5000}, "invalid_id"),
        ({}, "invalid_request"),
        (
            {"thread_id": "thr_x", "user_item": {"type": "user_message"}},
            "invalid_request",
        ),
    ],
)
async def test_malformed_run_open_gets_a_json_422(
    http: httpx.AsyncClient, user_id: str, body: dict[str, object], error: str
) -> None:
    response = await http.post("/runs", json=body, headers={"X-User-Id": user_id})

    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate_json(response.content).error == error


async def test_malformed_run_update_gets_a_json_422(
    client: HistoryClient, http: httpx.AsyncClient, user_id: str
) -> None:
    run = await open_first_run(client, user_id)

    response = await http.patch(
        f"/runs/{run.id}", json={"status": "paused"}, headers={"X-User-Id": user_id}
    )

    assert response.status_code == 422
    assert ErrorBody.model_validate_json(response.content).error == "invalid_request"


async def test_open_blocked_past_the_statement_timeout_answers_503(
    client: HistoryClient,
    impatient_history_url: str,
    user_id: str,
    db: "asyncpg.Pool[asyncpg.Record]",
) -> None:
    thread_id = await new_thread(client, user_id)
    impatient = HistoryClient(impatient_history_url)
    try:
        async with db.acquire() as conn, conn.transaction():
            # Hold the thread's row lock, as a stuck concurrent open would.
            await conn.execute(
                "SELECT id FROM conversations WHERE id = $1 FOR UPDATE", thread_id
            )
            with pytest.raises(HistoryError) as refused:
                await impatient.open_run(user_id, RunOpen(thread_id=thread_id))
    finally:
        await impatient.aclose()

    assert refused.value.status == 503
    assert '"unavailable"' in str(refused.value)
    assert (
        await client.open_run(user_id, RunOpen(thread_id=thread_id))
    ).fencing_token == 1
