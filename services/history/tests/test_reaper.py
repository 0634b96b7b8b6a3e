"""POST /runs/reap: runs whose lease ran out are failed and reported, once."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata

from shared.history_api import (
    ExpiredRuns,
    RunFence,
    RunHeartbeat,
    RunOpen,
    RunRecord,
    RunUpdate,
)
from shared.history_client import HistoryClient, HistoryConflict
from shared.ids import new_id

ExpireLease = Callable[[str], Awaitable[None]]

EXPIRED_RUNS = 24
CONCURRENT_REAPS = 4


async def open_on_new_thread(client: HistoryClient, user_id: str) -> RunRecord:
    thread = ThreadMetadata(id=new_id("thr"), created_at=datetime.now(UTC))
    return await client.open_run(
        user_id, RunOpen(thread_id=thread.id, new_thread=thread)
    )


async def refusal_of(attempt: Awaitable[object]) -> str:
    """The 409 body ``attempt`` is refused with (empty if it was not)."""
    try:
        await attempt
    except HistoryConflict as exc:
        return str(exc)
    return ""


def reaped_among(sweeps: list[ExpiredRuns], run_ids: set[str]) -> list[RunRecord]:
    """Our runs in the sweeps' answers: other tests' expired runs are reaped too."""
    return [run for sweep in sweeps for run in sweep.data if run.id in run_ids]


async def test_reap_fails_expired_runs_and_leaves_live_and_ended_ones(
    client: HistoryClient, user_id: str, expire_lease: ExpireLease
) -> None:
    expired_queued = await open_on_new_thread(client, user_id)
    expired_running = await open_on_new_thread(client, user_id)
    await client.update_run(user_id, expired_running.id, RunUpdate(status="running"))
    live = await open_on_new_thread(client, user_id)
    ended = await open_on_new_thread(client, user_id)
    await client.update_run(user_id, ended.id, RunUpdate(status="completed"))
    for run in (expired_queued, expired_running, ended):
        await expire_lease(run.id)
    mine = {run.id for run in (expired_queued, expired_running, live, ended)}

    reaped = reaped_among([await client.reap_expired_runs()], mine)

    assert {run.id for run in reaped} == {expired_queued.id, expired_running.id}
    assert {(run.status, run.error) for run in reaped} == {("failed", "lease expired")}
    assert all(run.finished_at is not None for run in reaped)
    for run in reaped:
        assert await client.get_run(user_id, run.id) == run
    assert (await client.get_run(user_id, live.id)).status == "queued"
    assert (await client.get_run(user_id, ended.id)).status == "completed"
    thread = await client.get_thread(user_id, expired_running.thread_id)
    assert thread.active_run_id is None


async def test_concurrent_reaps_report_each_expired_run_exactly_once(
    client: HistoryClient, user_id: str, expire_lease: ExpireLease
) -> None:
    runs = [await open_on_new_thread(client, user_id) for _ in range(EXPIRED_RUNS)]
    for run in runs:
        await expire_lease(run.id)
    mine = {run.id for run in runs}

    sweeps = await asyncio.gather(
        *(client.reap_expired_runs() for _ in range(CONCURRENT_REAPS))
    )

    counts = Counter(run.id for run in reaped_among(list(sweeps), mine))
    assert counts == Counter(mine)
    assert reaped_among([await client.reap_expired_runs()], mine) == []


async def test_reaped_runs_worker_can_no_longer_beat_write_or_end_it(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    expire_lease: ExpireLease,
) -> None:
    token = running_run.fencing_token
    fence = RunFence(run_id=running_run.id, fencing_token=token)
    late = AssistantMessageItem(
        id=new_id("msg"),
        thread_id=running_run.thread_id,
        created_at=datetime.now(UTC),
        content=[AssistantMessageContent(text="too late")],
    )
    await expire_lease(running_run.id)
    await client.reap_expired_runs()

    refusals = [
        await refusal_of(
            client.heartbeat(user_id, running_run.id, RunHeartbeat(fencing_token=token))
        ),
        await refusal_of(
            client.add_item(user_id, running_run.thread_id, late, fence=fence)
        ),
        await refusal_of(
            client.update_run(
                user_id,
                running_run.id,
                RunUpdate(status="completed", fencing_token=token),
            )
        ),
    ]

    assert all('"stale_run"' in refusal for refusal in refusals), refusals
    final = await client.get_run(user_id, running_run.id)
    assert (final.status, final.error) == ("failed", "lease expired")


async def test_reap_needs_no_user_but_the_internal_token(
    guarded_history_url: str, internal_token: str
) -> None:
    async with httpx.AsyncClient(base_url=f"{guarded_history_url}/v1") as raw:
        without = await raw.post("/runs/reap")
        with_token = await raw.post(
            "/runs/reap", headers={"X-Internal-Token": internal_token}
        )

    assert without.status_code == 401
    assert with_token.status_code == 200
    ExpiredRuns.model_validate_json(with_token.content)
