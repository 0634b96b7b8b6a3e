"""A run that is no longer the worker's: the turn stops and writes nothing more.

Another party may end a run (a reaper that found its lease expired) and a newer
run may then hold the thread with a higher fencing token. The old worker learns
it from a heartbeat answered 409, or from its next fenced item write.
"""

from collections.abc import AsyncIterator

import pytest
from chatkit.types import ThreadItemDoneEvent

from shared.events import RunEnded, RunEvent
from shared.history_api import RunRecord, RunUpdate

from .conftest import fake_model_settings
from .harness import Conversation, Harness
from .live import RunMessage, Watch, running_worker, text_deltas, watched_run

SLOW_TEXT = "[slow] a long story please"
FULL_ANSWER_DELTAS = 20


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest,
    redis_url: str,
    history_url: str,
    worker_queue: str,
    fake_model: str,
) -> AsyncIterator[Harness]:
    """Heartbeats every 10 s, or as often as an indirect parameter says."""
    heartbeat_s = getattr(request, "param", 10.0)
    settings = fake_model_settings(
        redis_url,
        history_url,
        f"{worker_queue}:guard",
        fake_model,
        worker_heartbeat_s=heartbeat_s,
    )
    harness = Harness(settings)
    yield harness
    await harness.aclose()


async def _take_over(conversation: Conversation, old: RunRecord) -> RunRecord:
    """End the old run as a reaper would, then open a newer run on the thread."""
    history = conversation.harness.history
    await history.update_run(
        conversation.user_id, old.id, RunUpdate(status="failed", error="taken over")
    )
    conversation.turns += 1
    return await conversation.harness.open_run(conversation, "a newer message")


def _assert_nothing_after_the_stop(messages: list[RunMessage]) -> None:
    assert not [m for m in messages if isinstance(m, RunEnded)]
    assert not [
        m
        for m in messages
        if isinstance(m, RunEvent) and isinstance(m.event, ThreadItemDoneEvent)
    ]
    assert len(text_deltas(messages)) < FULL_ANSWER_DELTAS


async def _assert_untouched(
    conversation: Conversation, old: RunRecord, new: RunRecord
) -> None:
    history = conversation.harness.history
    page = await history.list_items(conversation.user_id, conversation.thread_id)
    assert [r.item.type for r in page.data] == ["user_message", "user_message"]
    old_now = await history.get_run(conversation.user_id, old.id)
    assert (old_now.status, old_now.error) == ("failed", "taken over")
    new_now = await history.get_run(conversation.user_id, new.id)
    assert new_now.status == "queued"
    assert new_now.fencing_token > old.fencing_token


@pytest.mark.parametrize("harness", [0.3], indirect=True)
async def test_heartbeat_refused_after_a_take_over_stops_the_turn_at_once(
    harness: Harness,
) -> None:
    conversation = harness.conversation()

    async with (
        running_worker(harness.settings) as worker,
        watched_run(conversation, SLOW_TEXT) as (run, watch),
    ):
        await watch.deltas(2)
        newer = await _take_over(conversation, run)
        await watch.quiet(1.0)
        # The job ended long before the paced answer would have.
        assert all(task.done() for task in worker.tasks.values())

    _assert_nothing_after_the_stop(watch.messages)
    await _assert_untouched(conversation, run, newer)


async def test_item_write_with_a_stale_fence_is_refused_and_ends_the_turn_silently(
    harness: Harness,
) -> None:
    conversation = harness.conversation()

    async with (
        running_worker(harness.settings),
        watched_run(conversation, SLOW_TEXT) as (run, watch),
    ):
        await watch.deltas(2)
        newer = await _take_over(conversation, run)
        # No heartbeat comes in time: the answer's done write meets the fence.
        await watch.quiet(3.5)

    _assert_nothing_after_the_stop_but_the_deltas(watch)
    await _assert_untouched(conversation, run, newer)


def _assert_nothing_after_the_stop_but_the_deltas(watch: Watch) -> None:
    assert not [m for m in watch.messages if isinstance(m, RunEnded)]
    assert not [
        m
        for m in watch.messages
        if isinstance(m, RunEvent) and isinstance(m.event, ThreadItemDoneEvent)
    ]
