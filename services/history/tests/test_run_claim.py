"""A worker's pickup in one call: claim a queued run, get its thread and items."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from chatkit.types import AssistantMessageContent, AssistantMessageItem

from shared.history_api import (
    ErrorBody,
    FeedbackWrite,
    RunClaim,
    RunRecord,
    RunUpdate,
    ToolCallRecord,
)
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound
from shared.ids import new_id

ExpireLease = Callable[[str], Awaitable[None]]

CLAIM = RunClaim(worker="worker-1", lease_s=45)


def refused_record(refusal: HistoryConflict) -> RunRecord:
    """The current run a ``run_state`` refusal carries in its detail."""
    body = ErrorBody.model_validate_json(refusal.detail)
    assert body.error == "run_state"
    return RunRecord.model_validate(json.loads(body.detail))


async def test_claim_moves_the_run_to_running_and_answers_thread_and_items(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    claimed = await client.claim_run(user_id, queued_run.id, CLAIM)

    run = claimed.run
    assert (run.id, run.status, run.worker) == (queued_run.id, "running", "worker-1")
    assert run.fencing_token == queued_run.fencing_token
    assert run.started_at is not None
    assert run.lease_expires_at == run.started_at + timedelta(seconds=45)
    assert await client.get_run(user_id, queued_run.id) == run
    assert claimed.thread.thread.id == queued_run.thread_id
    assert claimed.thread.active_run_id == queued_run.id
    assert [r.item.id for r in claimed.items.data] == [queued_run.user_item_id]
    assert not claimed.items.has_more


async def test_claim_answers_the_first_thousand_items_and_a_cursor(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    start = datetime.now(UTC)
    for n in range(1000):
        item = AssistantMessageItem(
            id=new_id("msg"),
            thread_id=queued_run.thread_id,
            created_at=start + timedelta(milliseconds=n + 1),
            content=[AssistantMessageContent(text=f"answer {n}")],
        )
        await client.add_item(user_id, queued_run.thread_id, item)

    claimed = await client.claim_run(user_id, queued_run.id, CLAIM)

    page = claimed.items
    assert len(page.data) == 1000
    assert page.data[0].item.id == queued_run.user_item_id
    assert page.has_more
    assert page.after == page.data[-1].item.id
    rest = await client.list_items(
        user_id, queued_run.thread_id, limit=10, after=page.after
    )
    assert [r.content for r in rest.data] == ["answer 999"]


async def test_claimed_items_carry_their_tool_calls_seed_columns_and_feedback(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    answer = AssistantMessageItem(
        id=new_id("msg"),
        thread_id=queued_run.thread_id,
        created_at=datetime.now(UTC) + timedelta(seconds=1),
        content=[AssistantMessageContent(text="it is sunny")],
    )
    call = ToolCallRecord(
        call_id="call_1", name="weather", arguments='{"city":"Oslo"}', output="sun"
    )
    await client.add_item(user_id, queued_run.thread_id, answer, [call])
    await client.save_feedback(
        user_id,
        queued_run.thread_id,
        FeedbackWrite(item_ids=[answer.id], kind="positive"),
    )

    claimed = await client.claim_run(user_id, queued_run.id, CLAIM)

    stored = await client.list_items(user_id, queued_run.thread_id, limit=10)
    assert claimed.items == stored
    last = claimed.items.data[-1]
    assert (last.item, last.tool_calls, last.feedback) == (answer, [call], "positive")
    assert (last.role, last.content) == ("assistant", "it is sunny")


async def test_second_claim_is_refused_with_the_running_record(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    first = await client.claim_run(user_id, queued_run.id, CLAIM)

    with pytest.raises(HistoryConflict) as refused:
        await client.claim_run(user_id, queued_run.id, RunClaim(worker="w2", lease_s=5))

    assert refused_record(refused.value) == first.run
    assert await client.get_run(user_id, queued_run.id) == first.run


async def test_concurrent_claims_let_exactly_one_worker_win(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    claims = [RunClaim(worker=f"w{n}", lease_s=30) for n in range(4)]

    answers = await asyncio.gather(
        *(client.claim_run(user_id, queued_run.id, claim) for claim in claims),
        return_exceptions=True,
    )

    winners = [a for a in answers if not isinstance(a, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(a, HistoryConflict) for a in answers if a not in winners)
    stored = await client.get_run(user_id, queued_run.id)
    assert stored.worker == winners[0].run.worker


async def test_claim_of_a_queued_run_whose_lease_ran_out_is_refused(
    client: HistoryClient,
    user_id: str,
    queued_run: RunRecord,
    expire_lease: ExpireLease,
) -> None:
    await expire_lease(queued_run.id)

    with pytest.raises(HistoryConflict) as refused:
        await client.claim_run(user_id, queued_run.id, CLAIM)

    current = refused_record(refused.value)
    assert (current.status, current.worker) == ("queued", None)
    assert (await client.get_run(user_id, queued_run.id)).status == "queued"


async def test_claim_of_an_ended_run_is_refused_and_changes_nothing(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    ended = await client.update_run(
        user_id, queued_run.id, RunUpdate(status="failed", error="Boom")
    )

    with pytest.raises(HistoryConflict) as refused:
        await client.claim_run(user_id, queued_run.id, CLAIM)

    assert refused_record(refused.value) == ended
    assert await client.get_run(user_id, queued_run.id) == ended


async def test_claim_of_another_users_run_is_not_found_and_changes_nothing(
    client: HistoryClient, other_user_id: str, user_id: str, queued_run: RunRecord
) -> None:
    with pytest.raises(HistoryNotFound):
        await client.claim_run(other_user_id, queued_run.id, CLAIM)

    assert await client.get_run(user_id, queued_run.id) == queued_run


async def test_claim_of_an_unknown_run_is_not_found(
    client: HistoryClient, user_id: str
) -> None:
    with pytest.raises(HistoryNotFound):
        await client.claim_run(user_id, new_id("run"), CLAIM)


async def test_running_update_still_picks_up_a_queued_run(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> None:
    pickup = RunUpdate(
        status="running", worker="w", fencing_token=queued_run.fencing_token
    )

    running = await client.update_run(user_id, queued_run.id, pickup)

    assert running.status == "running"
    with pytest.raises(HistoryConflict):
        await client.claim_run(user_id, queued_run.id, CLAIM)
