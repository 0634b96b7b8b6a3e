"""A worker's hold on its run: fenced updates, the running lease, heartbeats."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.events import RunStatus
from shared.history_api import RunHeartbeat, RunRecord, RunUpdate
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound

# HistorySettings.history_running_lease_s, which the test server keeps.
RUNNING_LEASE_S = 30

ExpireLease = Callable[[str], Awaitable[None]]


def is_stale(refusal: HistoryConflict) -> bool:
    return '"stale_run"' in str(refusal)


async def test_moving_to_running_starts_the_running_lease(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    pickup = RunUpdate(
        status="running", worker="w", fencing_token=queued_run.fencing_token
    )

    running = await client.update_run(user_id, queued_run.id, pickup)

    assert running.started_at is not None
    assert running.lease_expires_at == running.started_at + timedelta(
        seconds=RUNNING_LEASE_S
    )


async def test_moving_to_running_takes_the_lease_the_worker_asks_for(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    pickup = RunUpdate(
        status="running", fencing_token=queued_run.fencing_token, lease_s=7
    )

    running = await client.update_run(user_id, queued_run.id, pickup)

    assert running.started_at is not None
    assert running.lease_expires_at == running.started_at + timedelta(seconds=7)


async def test_update_with_a_stale_token_is_refused_and_changes_nothing(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    stale = RunUpdate(status="running", fencing_token=queued_run.fencing_token + 1)

    with pytest.raises(HistoryConflict) as refused:
        await client.update_run(user_id, queued_run.id, stale)

    assert is_stale(refused.value)
    assert await client.get_run(user_id, queued_run.id) == queued_run


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
async def test_fenced_update_after_the_lease_ran_out_is_stale(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    expire_lease: ExpireLease,
    final: RunStatus,
) -> None:
    await expire_lease(running_run.id)
    end = RunUpdate(status=final, fencing_token=running_run.fencing_token)

    with pytest.raises(HistoryConflict) as refused:
        await client.update_run(user_id, running_run.id, end)

    assert is_stale(refused.value)
    assert (await client.get_run(user_id, running_run.id)).status == "running"


async def test_fenced_update_of_an_ended_run_is_stale(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    token = running_run.fencing_token
    await client.update_run(
        user_id, running_run.id, RunUpdate(status="failed", fencing_token=token)
    )

    with pytest.raises(HistoryConflict) as refused:
        await client.update_run(
            user_id, running_run.id, RunUpdate(status="completed", fencing_token=token)
        )

    assert is_stale(refused.value)


async def test_fenced_restart_of_a_running_run_is_a_state_conflict(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    again = RunUpdate(status="running", fencing_token=running_run.fencing_token)

    with pytest.raises(HistoryConflict) as refused:
        await client.update_run(user_id, running_run.id, again)

    assert '"run_state"' in str(refused.value)


async def test_final_update_records_the_last_sequence_number(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    end = RunUpdate(
        status="completed", fencing_token=running_run.fencing_token, last_seq=42
    )

    done = await client.update_run(user_id, running_run.id, end)

    assert (done.status, done.last_seq) == ("completed", 42)
    assert (await client.get_run(user_id, running_run.id)).last_seq == 42


async def test_repeated_final_update_with_its_token_answers_the_ended_run(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    end = RunUpdate(
        status="completed", fencing_token=running_run.fencing_token, last_seq=7
    )
    done = await client.update_run(user_id, running_run.id, end)

    again = await client.update_run(user_id, running_run.id, end)

    assert again == done


async def test_heartbeat_extends_the_lease(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    beat = RunHeartbeat(fencing_token=running_run.fencing_token, lease_s=600)
    before = datetime.now(UTC)

    alive = await client.heartbeat(user_id, running_run.id, beat)

    assert alive.lease_expires_at is not None
    assert running_run.lease_expires_at is not None
    assert alive.lease_expires_at > running_run.lease_expires_at
    assert alive.lease_expires_at > before + timedelta(seconds=595)
    assert (alive.status, alive.cancel_requested) == ("running", False)
    assert await client.get_run(user_id, running_run.id) == alive


async def test_heartbeat_never_shortens_a_lease(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    beat = RunHeartbeat(fencing_token=queued_run.fencing_token, lease_s=1)

    alive = await client.heartbeat(user_id, queued_run.id, beat)

    assert alive.lease_expires_at == queued_run.lease_expires_at


async def test_heartbeat_with_a_stale_token_is_refused(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    beat = RunHeartbeat(fencing_token=running_run.fencing_token - 1)

    with pytest.raises(HistoryConflict) as refused:
        await client.heartbeat(user_id, running_run.id, beat)

    assert is_stale(refused.value)
    assert await client.get_run(user_id, running_run.id) == running_run


async def test_heartbeat_after_the_lease_ran_out_is_refused(
    client: HistoryClient,
    user_id: str,
    running_run: RunRecord,
    expire_lease: ExpireLease,
) -> None:
    await expire_lease(running_run.id)
    beat = RunHeartbeat(fencing_token=running_run.fencing_token)

    with pytest.raises(HistoryConflict) as refused:
        await client.heartbeat(user_id, running_run.id, beat)

    assert is_stale(refused.value)


async def test_heartbeat_of_an_ended_run_is_refused(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    token = running_run.fencing_token
    await client.update_run(
        user_id, running_run.id, RunUpdate(status="completed", fencing_token=token)
    )

    with pytest.raises(HistoryConflict) as refused:
        await client.heartbeat(
            user_id, running_run.id, RunHeartbeat(fencing_token=token)
        )

    assert is_stale(refused.value)


async def test_another_users_run_cannot_be_beaten_or_moved(
    client: HistoryClient, other_user_id: str, running_run: RunRecord
) -> None:
    token = running_run.fencing_token

    with pytest.raises(HistoryNotFound):
        await client.heartbeat(
            other_user_id, running_run.id, RunHeartbeat(fencing_token=token)
        )
    with pytest.raises(HistoryNotFound):
        await client.update_run(
            other_user_id,
            running_run.id,
            RunUpdate(status="failed", fencing_token=token),
        )
