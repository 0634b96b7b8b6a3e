"""ItemWrite.fence: a worker's item writes land only while its run holds the thread."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

import asyncpg
import pytest
from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata

from shared.history_api import RunFence, RunOpen, RunRecord, RunUpdate
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound
from shared.ids import new_id

Write = Literal["add", "save"]
ExpireLease = Callable[[str], Awaitable[None]]

# Long enough for a write that is not blocked to finish, so "still pending"
# means it waits for the lock.
BLOCKED_CHECK_S = 0.5


def answer(thread_id: str, text: str = "an answer") -> AssistantMessageItem:
    return AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[AssistantMessageContent(text=text)],
    )


def create_opening() -> RunOpen:
    thread = ThreadMetadata(id=new_id("thr"), created_at=datetime.now(UTC))
    return RunOpen(thread_id=thread.id, new_thread=thread)


def fence_of(run: RunRecord, token_shift: int = 0) -> RunFence:
    return RunFence(run_id=run.id, fencing_token=run.fencing_token + token_shift)


async def write(
    client: HistoryClient,
    how: Write,
    user_id: str,
    item: AssistantMessageItem,
    fence: RunFence,
) -> None:
    if how == "add":
        await client.add_item(user_id, item.thread_id, item, fence=fence)
    else:
        await client.save_item(user_id, item.thread_id, item, fence=fence)


async def stored_ids(client: HistoryClient, user_id: str, thread_id: str) -> set[str]:
    return {r.item.id for r in (await client.list_items(user_id, thread_id)).data}


@pytest.mark.parametrize("how", ["add", "save"])
async def test_fenced_write_of_the_live_run_is_stored(
    client: HistoryClient, user_id: str, running_run: RunRecord, how: Write
) -> None:
    item = answer(running_run.thread_id)

    await write(client, how, user_id, item, fence_of(running_run))

    stored = await client.get_item(user_id, running_run.thread_id, item.id)
    assert stored.item == item


@pytest.mark.parametrize("how", ["add", "save"])
async def test_fenced_write_with_a_stale_token_is_refused_and_stores_nothing(
    client: HistoryClient, user_id: str, running_run: RunRecord, how: Write
) -> None:
    item = answer(running_run.thread_id)

    with pytest.raises(HistoryConflict) as refused:
        await write(client, how, user_id, item, fence_of(running_run, token_shift=1))

    assert '"stale_run"' in str(refused.value)
    assert item.id not in await stored_ids(client, user_id, running_run.thread_id)


@pytest.mark.parametrize("how", ["add", "save"])
async def test_fenced_write_after_the_lease_ran_out_is_refused(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    expire_lease: ExpireLease,
    how: Write,
) -> None:
    await expire_lease(running_run.id)
    item = answer(running_run.thread_id)

    with pytest.raises(HistoryConflict) as refused:
        await write(client, how, user_id, item, fence_of(running_run))

    assert '"stale_run"' in str(refused.value)
    assert item.id not in await stored_ids(client, user_id, running_run.thread_id)


@pytest.mark.parametrize("how", ["add", "save"])
async def test_fenced_write_of_an_ended_run_is_refused(
    client: HistoryClient, user_id: str, running_run: RunRecord, how: Write
) -> None:
    end = RunUpdate(status="completed", fencing_token=running_run.fencing_token)
    await client.update_run(user_id, running_run.id, end)
    item = answer(running_run.thread_id)

    with pytest.raises(HistoryConflict) as refused:
        await write(client, how, user_id, item, fence_of(running_run))

    assert '"stale_run"' in str(refused.value)


async def test_superseded_runs_write_is_refused_and_the_new_runs_is_stored(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    expire_lease: ExpireLease,
) -> None:
    await expire_lease(running_run.id)
    fresh = await client.open_run(user_id, RunOpen(thread_id=running_run.thread_id))
    late, current = answer(fresh.thread_id, "late"), answer(fresh.thread_id, "now")

    with pytest.raises(HistoryConflict):
        await write(client, "save", user_id, late, fence_of(running_run))
    await write(client, "add", user_id, current, fence_of(fresh))

    stored = await stored_ids(client, user_id, fresh.thread_id)
    assert (late.id in stored, current.id in stored) == (False, True)


async def test_fence_of_another_threads_live_run_is_refused(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    elsewhere = await client.open_run(user_id, create_opening())
    item = answer(running_run.thread_id)

    with pytest.raises(HistoryConflict) as refused:
        await write(client, "add", user_id, item, fence_of(elsewhere))

    assert '"stale_run"' in str(refused.value)


async def test_fenced_write_on_another_users_thread_is_not_found(
    client: HistoryClient, other_user_id: str, running_run: RunRecord
) -> None:
    item = answer(running_run.thread_id)

    with pytest.raises(HistoryNotFound):
        await write(client, "add", other_user_id, item, fence_of(running_run))


async def test_fenced_write_racing_the_end_of_its_run_waits_and_is_refused(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    db: "asyncpg.Pool[asyncpg.Record]",
) -> None:
    item = answer(running_run.thread_id)
    async with db.acquire() as conn, conn.transaction():
        # A reaper mid-sweep: the run is failed but not committed yet.
        await conn.execute(
            "UPDATE runs SET status = 'failed' WHERE id = $1", running_run.id
        )
        pending = asyncio.create_task(
            write(client, "add", user_id, item, fence_of(running_run))
        )
        await asyncio.sleep(BLOCKED_CHECK_S)
        assert not pending.done()

    with pytest.raises(HistoryConflict) as refused:
        await pending

    assert '"stale_run"' in str(refused.value)
    assert item.id not in await stored_ids(client, user_id, running_run.thread_id)
