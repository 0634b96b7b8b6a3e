"""POST /runs/heartbeats: a worker renews all its runs (any users) at once.

Each run is judged as its own heartbeat would be; a run that heartbeat would
refuse (409 or 404) is answered ``lost`` and left as it was.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from chatkit.types import ThreadMetadata

from shared.history_api import (
    RunBeat,
    RunHeartbeats,
    RunHeartbeatsAnswer,
    RunOpen,
    RunRecord,
    RunUpdate,
)
from shared.history_client import HistoryClient
from shared.ids import new_id

ExpireLease = Callable[[str], Awaitable[None]]
OpenRun = Callable[[str], Awaitable[RunRecord]]


@pytest.fixture
def open_running_run(client: HistoryClient) -> OpenRun:
    """Opens a run of a user on a new thread and picks it up (fenced)."""

    async def open_running(user_id: str) -> RunRecord:
        thread = ThreadMetadata(id=new_id("thr"), created_at=datetime.now(UTC))
        run = await client.open_run(
            user_id, RunOpen(thread_id=thread.id, new_thread=thread)
        )
        pickup = RunUpdate(status="running", fencing_token=run.fencing_token)
        return await client.update_run(user_id, run.id, pickup)

    return open_running


def beat(user_id: str, run: RunRecord, token: int | None = None) -> RunBeat:
    fencing_token = run.fencing_token if token is None else token
    return RunBeat(run_id=run.id, user_id=user_id, fencing_token=fencing_token)


async def test_one_request_renews_the_runs_of_every_user_in_order(
    client: HistoryClient,
    user_id: str,
    other_user_id: str,
    running_run: RunRecord,
    open_running_run: OpenRun,
) -> None:
    other = await open_running_run(other_user_id)
    await client.request_cancel(other_user_id, other.id)
    before = datetime.now(UTC)
    batch = RunHeartbeats(
        lease_s=600,
        runs=[beat(other_user_id, other), beat(user_id, running_run)],
    )

    answer = await client.heartbeats(batch)

    assert [(a.run_id, a.lost) for a in answer.data] == [
        (other.id, False),
        (running_run.id, False),
    ]
    assert [a.cancel_requested for a in answer.data] == [True, False]
    for answered, (user, run) in zip(
        answer.data, [(other_user_id, other), (user_id, running_run)], strict=True
    ):
        assert answered.lease_expires_at is not None
        assert answered.lease_expires_at > before + timedelta(seconds=595)
        stored = await client.get_run(user, run.id)
        assert stored.lease_expires_at == answered.lease_expires_at


async def test_runs_a_single_heartbeat_would_refuse_are_lost_and_unchanged(
    client: HistoryClient,
    user_id: str,
    other_user_id: str,
    running_run: RunRecord,
    open_running_run: OpenRun,
    expire_lease: ExpireLease,
) -> None:
    ended = await open_running_run(user_id)
    await client.update_run(
        user_id,
        ended.id,
        RunUpdate(status="completed", fencing_token=ended.fencing_token),
    )
    expired = await open_running_run(user_id)
    await expire_lease(expired.id)
    live = await open_running_run(user_id)
    stale = beat(user_id, running_run, running_run.fencing_token - 1)
    not_theirs = beat(other_user_id, running_run)
    unknown = RunBeat(run_id="run_unknown", user_id=user_id, fencing_token=1)
    beats = [stale, not_theirs, beat(user_id, ended), beat(user_id, expired)]
    batch = RunHeartbeats(lease_s=600, runs=[*beats, unknown, beat(user_id, live)])

    answer = await client.heartbeats(batch)

    assert [a.lost for a in answer.data] == [True] * 5 + [False]
    assert all(a.lease_expires_at is None for a in answer.data[:5])
    assert await client.get_run(user_id, running_run.id) == running_run
    assert (await client.get_run(user_id, ended.id)).status == "completed"


async def test_a_batch_never_shortens_a_lease(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    batch = RunHeartbeats(lease_s=1, runs=[beat(user_id, queued_run)])

    answer = await client.heartbeats(batch)

    assert answer.data[0].lease_expires_at == queued_run.lease_expires_at


async def test_heartbeats_need_no_user_but_the_internal_token(
    guarded_history_url: str, internal_token: str
) -> None:
    body = RunHeartbeats(runs=[]).model_dump(mode="json")
    async with httpx.AsyncClient(base_url=f"{guarded_history_url}/v1") as raw:
        without = await raw.post("/runs/heartbeats", json=body)
        with_token = await raw.post(
            "/runs/heartbeats",
            json=body,
            headers={"X-Internal-Token": internal_token},
        )

    assert without.status_code == 401
    assert with_token.status_code == 200
    assert RunHeartbeatsAnswer.model_validate_json(with_token.content).data == []
