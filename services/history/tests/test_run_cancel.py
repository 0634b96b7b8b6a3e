"""POST /runs/{id}/cancel: a persisted stop request the worker can poll."""

import pytest

from shared.history_api import RunHeartbeat, RunRecord, RunUpdate
from shared.history_client import HistoryClient, HistoryNotFound


async def test_cancel_flag_round_trips_to_every_read_of_the_run(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    token = queued_run.fencing_token

    flagged = await client.request_cancel(user_id, queued_run.id)
    pickup = await client.update_run(
        user_id, queued_run.id, RunUpdate(status="running", fencing_token=token)
    )
    beat = await client.heartbeat(
        user_id, queued_run.id, RunHeartbeat(fencing_token=token)
    )

    assert (flagged.status, flagged.cancel_requested) == ("queued", True)
    assert (await client.get_run(user_id, queued_run.id)).cancel_requested is True
    assert pickup.cancel_requested is True
    assert beat.cancel_requested is True


async def test_cancelling_twice_keeps_the_run_flagged(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    first = await client.request_cancel(user_id, running_run.id)

    second = await client.request_cancel(user_id, running_run.id)

    assert first == second
    assert (second.status, second.cancel_requested) == ("running", True)


async def test_cancel_of_a_finished_run_changes_nothing(
    client: HistoryClient, user_id: str, running_run: RunRecord
) -> None:
    done = await client.update_run(
        user_id,
        running_run.id,
        RunUpdate(status="completed", fencing_token=running_run.fencing_token),
    )

    answer = await client.request_cancel(user_id, running_run.id)

    assert answer == done
    assert (answer.status, answer.cancel_requested) == ("completed", False)


async def test_cancel_of_another_users_run_is_not_found_and_sets_nothing(
    client: HistoryClient, user_id: str, other_user_id: str, running_run: RunRecord
) -> None:
    with pytest.raises(HistoryNotFound):
        await client.request_cancel(other_user_id, running_run.id)

    assert (await client.get_run(user_id, running_run.id)).cancel_requested is False
