from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from asyncpg.connection import LoggedQuery
from chatkit.types import (
    InferenceOptions,
    LockedStatus,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from history.store import threads
from shared.history_api import ErrorBody, RunOpen, RunUpdate, ThreadPage
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound
from shared.ids import new_id

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def thread(
    seconds: int = 0, title: str | None = "A thread", thread_id: str | None = None
) -> ThreadMetadata:
    return ThreadMetadata(
        id=thread_id or new_id("thr"),
        title=title,
        created_at=T0 + timedelta(seconds=seconds),
    )


def user_item(thread_id: str) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text="hello")],
        inference_options=InferenceOptions(),
    )


async def save_threads(client: HistoryClient, user_id: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        saved = thread(seconds=n)
        await client.save_thread(user_id, saved)
        ids.append(saved.id)
    return ids


def ids_of(page: ThreadPage) -> list[str]:
    return [record.thread.id for record in page.data]


async def test_saved_thread_loads_back_with_every_field(
    client: HistoryClient, user_id: str
) -> None:
    saved = ThreadMetadata(
        id=new_id("thr"),
        title="Plans",
        created_at=T0,
        status=LockedStatus(reason="busy"),
        allowed_image_domains=["images.example"],
        metadata={"topic": "travel", "nested": {"n": 1}},
    )
    await client.save_thread(user_id, saved)

    record = await client.get_thread(user_id, saved.id)

    assert record.thread == saved
    assert record.updated_at.tzinfo is not None


async def test_saving_a_thread_again_overwrites_it_and_bumps_updated_at(
    client: HistoryClient, user_id: str
) -> None:
    saved = thread(title="old")
    await client.save_thread(user_id, saved)
    first = await client.get_thread(user_id, saved.id)

    await client.save_thread(user_id, saved.model_copy(update={"title": "new"}))
    second = await client.get_thread(user_id, saved.id)

    assert second.thread.title == "new"
    assert second.updated_at > first.updated_at


async def test_empty_thread_list_has_no_cursor(
    client: HistoryClient, user_id: str
) -> None:
    page = await client.list_threads(user_id)

    assert page == ThreadPage(data=[], has_more=False, after=None)


async def test_page_of_exactly_limit_threads_has_no_more(
    client: HistoryClient, user_id: str
) -> None:
    ids = await save_threads(client, user_id, 3)

    page = await client.list_threads(user_id, limit=3, order="asc")

    assert ids_of(page) == ids
    assert page.has_more is False
    assert page.after is None


async def test_thread_pages_follow_the_cursor_in_ascending_order(
    client: HistoryClient, user_id: str
) -> None:
    ids = await save_threads(client, user_id, 5)

    first = await client.list_threads(user_id, limit=2, order="asc")
    second = await client.list_threads(user_id, limit=2, after=first.after, order="asc")
    third = await client.list_threads(user_id, limit=2, after=second.after, order="asc")

    assert (ids_of(first), first.has_more, first.after) == (ids[:2], True, ids[1])
    assert (ids_of(second), second.has_more, second.after) == (ids[2:4], True, ids[3])
    assert (ids_of(third), third.has_more, third.after) == (ids[4:], False, None)


async def test_thread_list_defaults_to_newest_first(
    client: HistoryClient, user_id: str
) -> None:
    ids = await save_threads(client, user_id, 3)

    first = await client.list_threads(user_id, limit=2)
    rest = await client.list_threads(user_id, limit=2, after=first.after)

    assert ids_of(first) == [ids[2], ids[1]]
    assert ids_of(rest) == [ids[0]]
    assert rest.has_more is False


async def test_threads_with_equal_creation_times_page_by_id(
    client: HistoryClient, user_id: str
) -> None:
    ids = sorted(new_id("thr") for _ in range(4))
    for thread_id in ids:
        await client.save_thread(user_id, thread(thread_id=thread_id))

    first = await client.list_threads(user_id, limit=2, order="asc")
    second = await client.list_threads(user_id, limit=2, after=first.after, order="asc")

    assert ids_of(first) + ids_of(second) == ids


async def test_sorting_by_updated_at_puts_the_thread_written_last_first(
    client: HistoryClient, user_id: str
) -> None:
    ids = await save_threads(client, user_id, 3)
    await client.add_item(user_id, ids[0], user_item(ids[0]))

    by_update = await client.list_threads(user_id, sort="updated_at", limit=2)
    rest = await client.list_threads(
        user_id, sort="updated_at", limit=2, after=by_update.after
    )

    assert ids_of(by_update) == [ids[0], ids[2]]
    assert ids_of(rest) == [ids[1]]


async def test_unknown_cursor_gives_an_empty_page(
    client: HistoryClient, user_id: str
) -> None:
    await save_threads(client, user_id, 2)

    page = await client.list_threads(user_id, after=new_id("thr"))

    assert page == ThreadPage()


async def test_another_users_thread_is_not_found_and_not_listed(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    [thread_id] = await save_threads(client, user_id, 1)

    with pytest.raises(HistoryNotFound):
        await client.get_thread(other_user_id, thread_id)
    with pytest.raises(HistoryNotFound):
        await client.delete_thread(other_user_id, thread_id)
    assert (await client.list_threads(other_user_id)).data == []
    assert (await client.get_thread(user_id, thread_id)).thread.id == thread_id


async def test_saving_over_another_users_thread_id_is_refused(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    saved = thread(title="mine")
    await client.save_thread(user_id, saved)

    with pytest.raises(HistoryConflict):
        await client.save_thread(other_user_id, saved.model_copy(update={"title": "x"}))

    assert (await client.get_thread(user_id, saved.id)).thread.title == "mine"


async def test_deleting_a_thread_deletes_its_items_and_runs(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    [thread_id] = await save_threads(client, user_id, 1)
    await client.add_item(user_id, thread_id, user_item(thread_id))
    await client.open_run(user_id, RunOpen(thread_id=thread_id))

    await client.delete_thread(user_id, thread_id)

    with pytest.raises(HistoryNotFound):
        await client.get_thread(user_id, thread_id)
    for table in ("messages", "runs"):
        count = await db.fetchval(
            f"SELECT count(*) FROM {table} WHERE conversation_id = $1", thread_id
        )
        assert count == 0, table


async def test_thread_shows_its_queued_and_running_run_as_active(
    client: HistoryClient, user_id: str
) -> None:
    [thread_id] = await save_threads(client, user_id, 1)
    idle = await client.get_thread(user_id, thread_id)

    run = await client.open_run(user_id, RunOpen(thread_id=thread_id))
    queued = await client.get_thread(user_id, thread_id)
    await client.update_run(user_id, run.id, RunUpdate(status="running"))
    running = await client.get_thread(user_id, thread_id)

    assert idle.active_run_id is None
    assert queued.active_run_id == running.active_run_id == run.id


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
async def test_finished_run_is_no_longer_active(
    client: HistoryClient, user_id: str, final: str
) -> None:
    [thread_id] = await save_threads(client, user_id, 1)
    run = await client.open_run(user_id, RunOpen(thread_id=thread_id))

    await client.update_run(
        user_id, run.id, RunUpdate.model_validate({"status": final})
    )

    assert (await client.get_thread(user_id, thread_id)).active_run_id is None
    assert (await client.list_threads(user_id)).data[0].active_run_id is None


async def test_run_with_an_expired_lease_is_not_active(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    [thread_id] = await save_threads(client, user_id, 1)
    run = await client.open_run(user_id, RunOpen(thread_id=thread_id))

    await db.execute(
        "UPDATE runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
        run.id,
    )

    assert (await client.get_thread(user_id, thread_id)).active_run_id is None


async def test_thread_pages_show_each_threads_own_active_run(
    client: HistoryClient, user_id: str
) -> None:
    ids = await save_threads(client, user_id, 4)
    busy = {
        thread_id: (await client.open_run(user_id, RunOpen(thread_id=thread_id))).id
        for thread_id in ids[1::2]
    }

    for sort in ("created_at", "updated_at"):
        first = await client.list_threads(user_id, limit=2, order="asc", sort=sort)
        rest = await client.list_threads(
            user_id, limit=2, after=first.after, order="asc", sort=sort
        )
        shown = {
            record.thread.id: record.active_run_id for record in first.data + rest.data
        }
        assert shown == {thread_id: busy.get(thread_id) for thread_id in ids}


async def test_another_users_active_run_does_not_show_on_a_thread_list(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    [thread_id] = await save_threads(client, user_id, 1)
    await client.open_run(user_id, RunOpen(thread_id=thread_id))
    [theirs] = await save_threads(client, other_user_id, 1)

    page = await client.list_threads(other_user_id)

    assert [(r.thread.id, r.active_run_id) for r in page.data] == [(theirs, None)]


async def test_thread_page_with_active_runs_is_read_in_one_statement(
    client: HistoryClient, user_id: str, db: "asyncpg.Pool[asyncpg.Record]"
) -> None:
    ids = await save_threads(client, user_id, 3)
    run = await client.open_run(user_id, RunOpen(thread_id=ids[0]))
    statements: list[str] = []

    def record_statement(logged: LoggedQuery) -> None:
        statements.append(logged.query)

    async with db.acquire() as conn:
        conn.add_query_logger(record_statement)
        try:
            page = await threads.list_threads(
                conn, user_id, limit=3, after=None, order="asc", sort="created_at"
            )
        finally:
            conn.remove_query_logger(record_statement)

    assert [record.active_run_id for record in page.data] == [run.id, None, None]
    assert len(statements) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/threads?limit=0", None, 422),
        ("GET", "/threads?limit=101", None, 422),
        ("GET", "/threads?limit=ten", None, 422),
        ("GET", "/threads?order=sideways", None, 422),
        ("GET", "/threads?sort=title", None, 422),
        ("PUT", "/threads/thr_a", b"{not json", 422),
        ("PUT", "/threads/thr_a", b"{}", 422),
        ("PUT", "/threads/thr_a", b'{"thread": {"id": "thr_a"}}', 422),
        (
            "PUT",
            "/threads/thr_a",
            b'{"thread": {"id": "thr_b", "created_at": "2026-01-01T00:00:00Z"}}',
            422,
        ),
        (
            "PUT",
            "/threads/thr_a",
            b'{"thread": {"id": "thr_a", "created_at": "yesterday"}}',
            422,
        ),
        (
            "PUT",
            "/threads/thr_nul",
            b'{"thread": {"id": "thr_nul", "created_at": "2026-01-01T00:00:00Z",'
            b' "title": "a\\u0000b"}}',
            422,
        ),
        ("GET", "/threads/thr%00x", None, 422),
        ("GET", "/threads/" + "t" * 5000, None, 422),
        ("DELETE", "/threads/thr_missing", None, 404),
        ("POST", "/threads", b"{}", 405),
        ("GET", "/nowhere", None, 404),
    ],
)
async def test_bad_thread_requests_get_a_json_4xx(
    http: httpx.AsyncClient,
    user_id: str,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
) -> None:
    response = await http.request(
        method,
        path,
        content=body,
        headers={"X-User-Id": user_id, "content-type": "application/json"},
    )

    assert response.status_code == status, response.text
    assert ErrorBody.model_validate_json(response.content).error


async def test_request_without_user_header_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.get("/threads")

    assert response.status_code == 422
    assert "X-User-Id" in ErrorBody.model_validate_json(response.content).detail


async def test_guarded_server_requires_the_internal_token(
    guarded_history_url: str, internal_token: str, user_id: str
) -> None:
    headers = {"X-User-Id": user_id}
    async with httpx.AsyncClient(base_url=guarded_history_url) as raw:
        missing = await raw.get("/v1/threads", headers=headers)
        wrong = await raw.get(
            "/v1/threads", headers={**headers, "X-Internal-Token": "nope"}
        )
        right = await raw.get(
            "/v1/threads", headers={**headers, "X-Internal-Token": internal_token}
        )
        health = await raw.get("/healthz")

    assert missing.status_code == wrong.status_code == 401
    assert ErrorBody.model_validate_json(wrong.content).error == "unauthorized"
    assert right.status_code == 200
    assert health.status_code == 200


async def test_guarded_server_accepts_the_typed_client_with_its_token(
    guarded_history_url: str, internal_token: str, user_id: str
) -> None:
    guarded = HistoryClient(guarded_history_url, internal_token=internal_token)
    try:
        await guarded.save_thread(user_id, thread())
        assert len((await guarded.list_threads(user_id)).data) == 1
    finally:
        await guarded.aclose()


async def test_readiness_reports_a_reachable_database(live_history_url: str) -> None:
    async with httpx.AsyncClient(base_url=live_history_url) as raw:
        ready = await raw.get("/readyz")

    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
