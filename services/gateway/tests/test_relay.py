import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from chatkit.types import AssistantMessageContentPartTextDelta, ThreadItemUpdatedEvent
from redis.asyncio import Redis

from gateway.live_event import LiveEvent
from gateway.relay import UNSUBSCRIBE_BATCH_S, Relay, RelayUnavailableError
from gateway.subscription import RelayDropped, RelayItem, Subscription
from shared.events import RunEnded, RunEvent, dump_run_message
from shared.ids import new_id
from shared.redis_keys import run_events_channel, run_log
from shared.run_log import dump_batch
from testkit.processes import free_port
from testkit.restartable_redis import restartable_redis
from testkit.tcp_proxy import TcpProxy, TcpTarget


def _event(run_id: str, seq: int) -> RunEvent:
    update = AssistantMessageContentPartTextDelta(content_index=0, delta=f"d{seq}")
    event = ThreadItemUpdatedEvent(item_id="msg_1", update=update)
    return RunEvent(run_id=run_id, seq=seq, event=event)


WAIT_S = 5.0


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _typed(item: RelayItem) -> RelayItem | None:
    """What a live event stands for, to compare it with what was published."""
    return item.message if isinstance(item, LiveEvent) else item


async def _next(subscription: Subscription) -> RelayItem | None:
    async with asyncio.timeout(WAIT_S):
        return _typed(await subscription.get())


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def relay_name() -> str:
    return f"gateway.relay.test-{new_id('req')}"


@pytest.fixture
async def relay(redis_url: str, relay_name: str) -> AsyncIterator[Relay]:
    relay = Relay(redis_url, client_name=relay_name, queue_size=10)
    await relay.start()
    yield relay
    await relay.stop()


async def _publish(redis: Redis, message: RunEvent | RunEnded) -> None:
    await redis.publish(run_events_channel(message.run_id), dump_run_message(message))


async def _numsub(redis: Redis, run_id: str) -> int:
    channel = run_events_channel(run_id)
    [(_, count)] = await redis.pubsub_numsub(channel)
    return int(count)


async def test_subscribe_returns_only_once_redis_has_the_subscription(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    await relay.subscribe(run_id)
    assert await _numsub(redis, run_id) == 1


async def test_messages_of_one_run_never_reach_another_runs_subscriber(
    relay: Relay, redis: Redis
) -> None:
    run_a, run_b = new_id("run"), new_id("run")
    sub_a = await relay.subscribe(run_a)
    sub_b = await relay.subscribe(run_b)
    await _publish(redis, _event(run_a, 1))
    await _publish(redis, _event(run_b, 1))
    await _publish(redis, _event(run_a, 2))
    assert [await _next(sub_a), await _next(sub_a)] == [
        _event(run_a, 1),
        _event(run_a, 2),
    ]
    assert await _next(sub_b) == _event(run_b, 1)
    assert sub_b.drain() == []


async def test_two_subscribers_of_one_run_each_receive_every_message(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    first, second = await relay.subscribe(run_id), await relay.subscribe(run_id)
    assert await _numsub(redis, run_id) == 1  # one Redis subscription, fanned out
    for seq in (1, 2):
        await _publish(redis, _event(run_id, seq))
    for sub in (first, second):
        assert [await _next(sub), await _next(sub)] == [
            _event(run_id, 1),
            _event(run_id, 2),
        ]


async def test_slow_subscriber_is_dropped_and_never_delays_a_fast_one(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    fast, slow = await relay.subscribe(run_id), await relay.subscribe(run_id)
    received: list[RelayItem] = []

    async def read_fast() -> None:
        while not isinstance(item := await fast.get(), RunEnded):
            received.append(item)
        received.append(item)

    reader = asyncio.create_task(read_fast())
    for seq in range(1, 51):
        await _publish(redis, _event(run_id, seq))
    await _publish(redis, RunEnded(run_id=run_id, seq=51, status="completed"))
    async with asyncio.timeout(5):
        await reader
    assert [item.seq for item in received if not isinstance(item, RelayDropped)] == (
        list(range(1, 52))
    )
    backlog = [_typed(item) for item in slow.drain()]
    assert backlog[:10] == [_event(run_id, seq) for seq in range(1, 11)]
    assert backlog[10] == RelayDropped("overflow")
    assert slow.closed


async def test_relay_resubscribes_after_its_connection_is_killed(
    relay: Relay, redis: Redis, relay_name: str
) -> None:
    run_id = new_id("run")
    sub = await relay.subscribe(run_id)
    await _publish(redis, _event(run_id, 1))
    assert await _next(sub) == _event(run_id, 1)

    await _kill_connection(redis, relay_name)
    await eventually(
        lambda: _numsub_is(redis, run_id, 1), what="resubscription after CLIENT KILL"
    )
    clients = await redis.client_list(_type="pubsub")
    assert any(client["name"] == relay_name for client in clients)
    await _publish(redis, _event(run_id, 2))
    assert await _next(sub) == _event(run_id, 2)


async def _numsub_is(redis: Redis, run_id: str, expected: int) -> bool:
    return await _numsub(redis, run_id) == expected


async def _kill_connection(redis: Redis, client_name: str) -> None:
    """CLIENT KILL the relay's pub/sub connection (and nobody else's)."""
    clients = await redis.client_list(_type="pubsub")
    [client_id] = [c["id"] for c in clients if c["name"] == client_name]
    assert await redis.client_kill_filter(_id=client_id) == 1


async def test_messages_missed_while_disconnected_are_filled_in_from_the_run_log(
    relay: Relay, redis: Redis, relay_name: str
) -> None:
    run_id = new_id("run")
    sub = await relay.subscribe(run_id)
    await _publish(redis, _event(run_id, 1))
    assert await _next(sub) == _event(run_id, 1)
    # Events 2 and 3 exist only in the run log, as if published while the relay
    # was reconnecting; the worker logs each batch under its last seq.
    for batch in ((1, 2), (3,)):
        await redis.xadd(
            run_log(run_id),
            {"data": dump_batch([_event(run_id, seq) for seq in batch])},
            id=f"{batch[-1]}-0",
        )
    try:
        await _kill_connection(redis, relay_name)
        await asyncio.sleep(0.01)
        await eventually(lambda: _numsub_is(redis, run_id, 1), what="resubscription")
        await _publish(redis, _event(run_id, 4))
        assert [(await _next(sub)).seq for _ in range(3)] == [2, 3, 4]  # type: ignore[union-attr]
        assert sub.drain() == []
    finally:
        await redis.delete(run_log(run_id))


async def test_last_subscriber_leaving_unsubscribes_the_channel(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    first, second = await relay.subscribe(run_id), await relay.subscribe(run_id)
    first.close()
    await asyncio.sleep(0.05)
    assert await _numsub(redis, run_id) == 1
    second.close()
    await eventually(lambda: _numsub_is(redis, run_id, 0), what="unsubscribe")
    assert relay.subscriber_count(run_id) == 0


async def test_subscription_leaves_the_channel_by_itself_at_run_end(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    sub = await relay.subscribe(run_id)
    await _publish(redis, RunEnded(run_id=run_id, seq=1, status="completed"))
    assert isinstance(await _next(sub), RunEnded)
    assert sub.closed
    await eventually(lambda: _numsub_is(redis, run_id, 0), what="unsubscribe at end")


async def test_resubscribing_right_after_leaving_still_receives(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    (await relay.subscribe(run_id)).close()
    sub = await relay.subscribe(run_id)
    # Let the janitor run its unsubscribe pass.
    await asyncio.sleep(UNSUBSCRIBE_BATCH_S + 0.05)
    await _publish(redis, _event(run_id, 1))
    assert await _next(sub) == _event(run_id, 1)


async def test_a_published_batch_reaches_the_subscriber_message_by_message(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    sub = await relay.subscribe(run_id)
    batch = [_event(run_id, seq) for seq in (1, 2, 3)]
    await redis.publish(run_events_channel(run_id), dump_batch(batch))
    received = [await subscription_item(sub) for _ in batch]
    assert [_typed(item) for item in received] == batch
    # Each keeps its own bytes, as the worker serialized it.
    assert [item.data for item in received if isinstance(item, LiveEvent)] == [
        dump_run_message(message) for message in batch
    ]


async def subscription_item(sub: Subscription) -> RelayItem:
    async with asyncio.timeout(WAIT_S):
        return await sub.get()


async def test_unreadable_message_is_skipped_and_the_next_one_delivered(
    relay: Relay, redis: Redis
) -> None:
    run_id = new_id("run")
    sub = await relay.subscribe(run_id)
    await redis.publish(run_events_channel(run_id), b'{"kind": "nonsense"}')
    await _publish(redis, _event(run_id, 1))
    assert await _next(sub) == _event(run_id, 1)


async def test_subscribe_fails_fast_when_redis_is_unreachable() -> None:
    relay = Relay(f"redis://127.0.0.1:{free_port()}", subscribe_timeout_s=0.3)
    await relay.start()
    try:
        assert not relay.connected
        with pytest.raises(RelayUnavailableError):
            await relay.subscribe(new_id("run"))
    finally:
        await relay.stop()


async def test_stopping_the_relay_ends_open_subscriptions_with_a_marker(
    redis_url: str,
) -> None:
    relay = Relay(redis_url)
    await relay.start()
    sub = await relay.subscribe(new_id("run"))
    await relay.stop()
    assert sub.drain()[0] == RelayDropped("shutdown")


async def _publisher_sees(url: str, run_id: str, relay: Relay) -> RelayItem | None:
    """Subscribe through the relay, publish one event on ``url``, read it back."""
    sub = await relay.subscribe(run_id)
    client = Redis.from_url(url)
    try:
        await _publish(client, _event(run_id, 1))
    finally:
        await client.aclose()
    return await _next(sub)


async def test_streams_end_with_redis_lost_when_redis_dies_then_the_relay_returns() -> (
    None
):
    with restartable_redis() as server:
        relay = Relay(server.url, subscribe_timeout_s=2)
        await relay.start()
        try:
            sub = await relay.subscribe(new_id("run"))
            server.kill()
            assert await _next(sub) == RelayDropped("redis_lost")
            assert sub.closed
            server.start()
            await eventually(_connected(relay), what="reconnect after restart")
            run_id = new_id("run")
            assert await _publisher_sees(server.url, run_id, relay) == _event(run_id, 1)
        finally:
            await relay.stop()


def _connected(relay: Relay) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return relay.connected

    return check


async def test_a_different_redis_behind_the_same_address_ends_the_streams() -> None:
    """Reconnecting at once to a restarted server: what it lost is not refilled."""
    with restartable_redis() as first, restartable_redis() as second:
        proxy = TcpProxy(TcpTarget(host="127.0.0.1", port=first.port)).start()
        relay = Relay(f"redis://127.0.0.1:{proxy.port}/0", subscribe_timeout_s=2)
        await relay.start()
        try:
            sub = await relay.subscribe(new_id("run"))
            proxy.target = TcpTarget(host="127.0.0.1", port=second.port)
            proxy.pause("hold")  # cuts the connection; the reconnect waits...
            proxy.resume()  # ...and lands on the other server at once
            assert await _next(sub) == RelayDropped("redis_lost")
            await eventually(_connected(relay), what="reconnect to the new server")
            run_id = new_id("run")
            assert await _publisher_sees(second.url, run_id, relay) == _event(run_id, 1)
        finally:
            await relay.stop()
            proxy.stop()


def test_a_subscription_skips_what_its_client_got_from_the_log() -> None:
    sub = Subscription("run_1", limit=10)
    sub.skip_through(3)
    for seq in (2, 3, 4):
        assert sub.offer(_event("run_1", seq))
    assert sub.drain() == [_event("run_1", 4)]
