"""GET /threads/{id}/runs/latest: the active run, else the newest."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from chatkit.types import ThreadMetadata

from shared.history_api import RunOpen, RunRecord, RunUpdate
from shared.history_client import HistoryClient, HistoryNotFound
from shared.ids import new_id


async def test_thread_that_never_had_a_run_has_no_latest_run(
    client: HistoryClient, user_id: str
) -> None:
    thread = ThreadMetadata(id=new_id("thr"), created_at=datetime.now(UTC))
    await client.save_thread(user_id, thread)

    with pytest.raises(HistoryNotFound):
        await client.latest_run(user_id, thread.id)
    with pytest.raises(HistoryNotFound):
        await client.latest_run(user_id, new_id("thr"))


async def test_latest_run_is_the_active_one_while_a_run_is_active(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    thread_id = queued_run.thread_id
    await client.update_run(user_id, queued_run.id, RunUpdate(status="completed"))
    active = await client.open_run(user_id, RunOpen(thread_id=thread_id))

    latest = await client.latest_run(user_id, thread_id)

    assert (latest.id, latest.status) == (active.id, "queued")


async def test_latest_run_is_the_newest_once_all_ended(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    thread_id = queued_run.thread_id
    await client.update_run(user_id, queued_run.id, RunUpdate(status="completed"))
    newest = await client.open_run(user_id, RunOpen(thread_id=thread_id))
    ended = await client.update_run(
        user_id, newest.id, RunUpdate(status="cancelled", last_seq=3)
    )

    assert await client.latest_run(user_id, thread_id) == ended


async def test_run_superseding_an_expired_one_is_the_latest(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    expire_lease: Callable[[str], Awaitable[None]],
) -> None:
    await expire_lease(running_run.id)
    fresh = await client.open_run(user_id, RunOpen(thread_id=running_run.thread_id))

    latest = await client.latest_run(user_id, running_run.thread_id)

    assert latest == fresh
    assert (await client.get_run(user_id, running_run.id)).status == "failed"


async def test_another_users_thread_has_no_latest_run(
    client: HistoryClient, other_user_id: str, queued_run: RunRecord
) -> None:
    with pytest.raises(HistoryNotFound):
        await client.latest_run(other_user_id, queued_run.thread_id)
