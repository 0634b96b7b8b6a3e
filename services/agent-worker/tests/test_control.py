"""control.py: one pattern subscription per process carries every run's cancel."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_worker.control import ControlChannel
from shared.ids import new_id
from shared.redis_keys import run_cancel, run_control_channel
from testkit.restartable_redis import restartable_redis

WAIT_S = 5.0


@pytest.fixture
async def control(redis_url: str) -> AsyncIterator[ControlChannel]:
    channel = ControlChannel(redis_url)
    await channel.start()
    yield channel
    await channel.stop()


async def _numsub(redis: Redis, run_id: str) -> int:
    [(_, count)] = await redis.pubsub_numsub(run_control_channel(run_id))
    return int(count)


async def test_a_cancel_message_reaches_a_watched_run_without_a_subscription_of_its_own(
    control: ControlChannel, redis: Redis
) -> None:
    run_id, other = new_id("run"), new_id("run")
    event = control.watch(run_id)
    other_event = control.watch(other)
    assert await _numsub(redis, run_id) == 0

    await redis.publish(run_control_channel(run_id), b"cancel")
    async with asyncio.timeout(WAIT_S):
        await event.wait()
    assert not other_event.is_set()
    control.unwatch(run_id)
    control.unwatch(other)


async def test_a_cancel_sent_while_redis_was_away_is_seen_once_it_is_back() -> None:
    with restartable_redis() as server:
        control = ControlChannel(server.url)
        await control.start()
        redis = Redis.from_url(server.url)
        try:
            run_id = new_id("run")
            event = control.watch(run_id)
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            # The gateway's cancel: the key, then a message nobody hears.
            await redis.set(run_cancel(run_id), b"1", ex=60)
            await redis.publish(run_control_channel(run_id), b"cancel")
            async with asyncio.timeout(WAIT_S * 2):
                await event.wait()
        finally:
            await redis.aclose()
            await control.stop()
