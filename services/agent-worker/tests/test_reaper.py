"""The reaper: a run whose lease expired gets a retryable error and its end, once."""

from collections.abc import AsyncIterator

import pytest
from chatkit.types import ErrorEvent
from redis.asyncio import Redis

from agent_worker.reaper import Reaper
from shared import run_log
from shared.events import RunEnded, RunEvent
from shared.redis_keys import run_events_channel

from .conftest import worker_settings
from .harness import Harness
from .live import Watch, running_worker

REAP_INTERVAL_S = 0.2


@pytest.fixture
async def harness(
    redis_url: str, history_url: str, worker_queue: str
) -> AsyncIterator[Harness]:
    """The demo model; reaping every 0.2 s."""
    settings = worker_settings(
        redis_url,
        history_url,
        f"{worker_queue}:reaper",
        worker_reap_interval_s=REAP_INTERVAL_S,
    )
    harness = Harness(settings)
    yield harness
    await harness.aclose()


async def test_expired_run_gets_one_error_and_one_end_from_two_reapers(
    harness: Harness, redis: Redis
) -> None:
    conversation = harness.conversation()
    conversation.turns = 1
    # A run no worker ever picks up (it is not enqueued), leased for a second.
    run = await harness.open_run(conversation, "hello", lease_s=1)
    second_reaper = Reaper(harness.history, harness.redis, harness.settings)

    async with running_worker(harness.settings), harness.redis.pubsub() as pubsub:
        await pubsub.subscribe(run_events_channel(run.id))
        second_reaper.start()
        try:
            watch = Watch(pubsub)
            await watch.end(timeout_s=10.0)
            # More sweeps of both reapers: nothing else may arrive.
            await watch.quiet(REAP_INTERVAL_S * 5)
        finally:
            await second_reaper.stop()

    assert watch.messages == [
        RunEvent(
            run_id=run.id,
            seq=1,
            event=ErrorEvent(code="stream.error", allow_retry=True),
        ),
        RunEnded(run_id=run.id, seq=2, status="failed"),
    ]
    assert await run_log.read_after(redis, run.id) == watch.messages
    reaped = await harness.history.get_run(conversation.user_id, run.id)
    assert (reaped.status, reaped.error) == ("failed", "lease expired")


async def test_sweep_leaves_a_live_run_alone(harness: Harness, redis: Redis) -> None:
    conversation = harness.conversation()
    conversation.turns = 1
    run = await harness.open_run(conversation, "hello", lease_s=60)
    reaper = Reaper(harness.history, harness.redis, harness.settings)

    ended = await reaper.sweep()

    assert run.id not in ended
    assert await run_log.read_after(redis, run.id) == []
    live = await harness.history.get_run(conversation.user_id, run.id)
    assert live.status == "queued"
