"""publisher.py: numbered, held and merged, one batch per flush, log equals live."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    UserMessageItem,
)
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from structlog.testing import capture_logs

from agent_worker.publisher import RunPublisher
from agent_worker.resources import PUBLISHER_CLIENT_NAME
from shared import run_log
from shared.events import RunEnded, RunEvent
from shared.ids import new_id
from shared.redis_keys import run_events_channel
from shared.redis_keys import run_log as run_log_key
from shared.run_log import LOG_FIELD
from testkit.restartable_redis import restartable_redis

from .conftest import CountingRedis, fake_model_settings
from .harness import Harness, collect, next_payload
from .live import echo_of, running_worker, text_deltas, watched_run

ITEM = "msg_item"
THREAD = "thr_pub"
SLOW_TEXT = "[slow] publish this through trouble"


def _delta(text: str, content_index: int = 0) -> ThreadItemUpdatedEvent:
    update = AssistantMessageContentPartTextDelta(
        content_index=content_index, delta=text
    )
    return ThreadItemUpdatedEvent(item_id=ITEM, update=update)


def _message(text: str) -> AssistantMessageItem:
    content = [AssistantMessageContent(text=text)] if text else []
    return AssistantMessageItem(
        id=ITEM, thread_id=THREAD, created_at=datetime.now(UTC), content=content
    )


def _publisher(redis: Redis, run_id: str, coalesce_s: float = 0.03) -> RunPublisher:
    return RunPublisher(
        redis, run_id, coalesce_s=coalesce_s, log_maxlen=1000, log_ttl_s=60
    )


@pytest.fixture
async def run_id_and_sub(redis: Redis) -> AsyncIterator[tuple[str, PubSub]]:
    run_id = new_id("run")
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(run_events_channel(run_id))
        yield run_id, pubsub
    await redis.delete(run_log_key(run_id))


def _messages(received: list[bytes]) -> list[RunEvent | RunEnded]:
    return [message for data in received for message in run_log.parse_batch(data)]


def _kinds(messages: list[RunEvent | RunEnded]) -> list[str]:
    """Each message as its text delta, its event type, or "end"."""
    return [
        m.event.update.delta
        if isinstance(m, RunEvent)
        and isinstance(m.event, ThreadItemUpdatedEvent)
        and isinstance(m.event.update, AssistantMessageContentPartTextDelta)
        else m.event.type
        if isinstance(m, RunEvent)
        else "end"
        for m in messages
    ]


async def test_streamed_tokens_cost_at_most_0_15_redis_commands_each(
    counting_redis: CountingRedis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, pubsub = run_id_and_sub
    publisher = _publisher(counting_redis, run_id)
    tokens = [f"tok{i} " for i in range(300)]

    await publisher.publish(ThreadItemAddedEvent(item=_message("")))
    for token in tokens:
        await publisher.publish(_delta(token))
        await asyncio.sleep(0.001)
    await publisher.publish(ThreadItemDoneEvent(item=_message("".join(tokens))))
    await publisher.end("completed")
    await publisher.aclose()
    received = await collect(pubsub)

    # Two commands per flush (PUBLISH + XADD): about 0.1 here, 0.16 with an
    # EXPIRE on every flush.
    assert counting_redis.count.commands / len(tokens) <= 0.15
    # A short run's log gets its expiry once, with the first flush.
    assert counting_redis.count.expires == 1
    deltas = [
        m.event.update.delta
        for m in _messages(received)
        if isinstance(m, RunEvent)
        and isinstance(m.event, ThreadItemUpdatedEvent)
        and isinstance(m.event.update, AssistantMessageContentPartTextDelta)
    ]
    assert "".join(deltas) == "".join(tokens)
    assert 1 < len(deltas) < len(tokens) / 5


async def test_seq_is_gapless_and_the_log_holds_exactly_the_published_bytes(
    redis: Redis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, pubsub = run_id_and_sub
    publisher = _publisher(redis, run_id, coalesce_s=0.005)

    await publisher.publish(ThreadItemAddedEvent(item=_message("")))
    for index in range(40):
        await publisher.publish(_delta(f"{index},", content_index=index % 2))
        if index % 10 == 0:
            await asyncio.sleep(0.01)
    await publisher.publish(ThreadItemDoneEvent(item=_message("done")))
    await publisher.end("completed")
    received = await collect(pubsub)
    entries = await redis.xrange(run_log_key(run_id))

    messages = _messages(received)
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert [fields[LOG_FIELD.encode()] for _, fields in entries] == received
    # One log entry per published batch, under its last message's number.
    assert [entry_id for entry_id, _ in entries] == [
        f"{run_log.parse_batch(data)[-1].seq}-0".encode() for data in received
    ]
    assert len(received) < len(messages)
    assert 0 < await redis.ttl(run_log_key(run_id)) <= 60


async def test_a_run_longer_than_the_log_ttl_keeps_its_log_alive(
    counting_redis: CountingRedis, redis: Redis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, _ = run_id_and_sub
    publisher = RunPublisher(
        counting_redis, run_id, coalesce_s=0.0, log_maxlen=1000, log_ttl_s=1
    )

    await publisher.publish(ThreadItemAddedEvent(item=_message("")))
    alive: list[bool] = []
    for index in range(12):
        await asyncio.sleep(0.15)
        await publisher.publish(_delta(f"{index},"))
        alive.append(await redis.exists(run_log_key(run_id)) == 1)
    await publisher.end("completed")
    await publisher.aclose()

    assert all(alive)
    assert 3 <= counting_redis.count.expires < counting_redis.count.round_trips
    assert 0 < await redis.pttl(run_log_key(run_id)) <= 1000


async def test_first_delta_goes_out_without_waiting_for_the_window(
    redis: Redis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, pubsub = run_id_and_sub
    publisher = _publisher(redis, run_id, coalesce_s=10.0)

    await publisher.publish(_delta("first"))
    data = await next_payload(pubsub, timeout_s=1.0)
    await publisher.end("completed")
    await publisher.aclose()

    assert data is not None
    assert _kinds(run_log.parse_batch(data)) == ["first"]
    assert run_log.parse_batch(data)[0].seq == 1


async def test_events_before_the_first_delta_go_out_with_it_in_one_message(
    redis: Redis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, pubsub = run_id_and_sub
    publisher = _publisher(redis, run_id, coalesce_s=10.0)

    await publisher.publish(ThreadItemAddedEvent(item=_message("")))
    await publisher.publish(ThreadItemAddedEvent(item=_message("")))
    await publisher.publish(_delta("first"))
    data = await next_payload(pubsub, timeout_s=1.0)
    await publisher.end("completed")
    await publisher.aclose()

    assert data is not None
    first = run_log.parse_batch(data)
    assert _kinds(first) == ["thread.item.added", "thread.item.added", "first"]
    assert [m.seq for m in first] == [1, 2, 3]


async def test_an_event_without_a_delta_after_it_goes_out_by_itself(
    redis: Redis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, pubsub = run_id_and_sub
    publisher = _publisher(redis, run_id, coalesce_s=0.05)

    await publisher.publish(ThreadItemAddedEvent(item=_message("")))
    data = await next_payload(pubsub, timeout_s=5.0)
    await publisher.end("completed")
    await publisher.aclose()

    assert data is not None
    assert _kinds(run_log.parse_batch(data)) == ["thread.item.added"]


async def test_held_events_go_out_merged_and_in_order_with_the_end(
    redis: Redis, run_id_and_sub: tuple[str, PubSub]
) -> None:
    run_id, pubsub = run_id_and_sub
    publisher = _publisher(redis, run_id, coalesce_s=10.0)

    await publisher.publish(_delta("a"))
    await asyncio.sleep(0.05)
    await publisher.publish(_delta("b"))
    await publisher.publish(_delta("c"))
    await publisher.publish(ThreadItemDoneEvent(item=_message("abc")))
    await publisher.publish(_delta("d"))
    await publisher.end("completed")
    received = await collect(pubsub)

    assert _kinds(_messages(received)) == ["a", "bc", "thread.item.done", "d", "end"]
    # The first delta went out at once; the rest waited and went with the end.
    assert [len(run_log.parse_batch(data)) for data in received] == [1, 4]


async def _kill_clients_named(admin: Redis, name: str) -> int:
    clients = await admin.client_list()
    ids = [client["id"] for client in clients if client.get("name") == name]
    for client_id in ids:
        await admin.client_kill_filter(_id=client_id)
    return len(ids)


async def test_publisher_connection_killed_mid_answer_resumes_without_a_gap(
    history_url: str, worker_queue: str, fake_model: str
) -> None:
    with restartable_redis() as server:
        settings = fake_model_settings(
            server.url,
            history_url,
            worker_queue,
            fake_model,
        )
        harness = Harness(settings)
        admin = Redis.from_url(server.url)
        conversation = harness.conversation()
        try:
            async with (
                running_worker(settings),
                watched_run(conversation, SLOW_TEXT) as (run, watch),
            ):
                await watch.deltas(2)
                with capture_logs() as logs:
                    # Killed, and no new connection accepted for a while.
                    await admin.config_set("maxclients", 1)
                    killed = await _kill_clients_named(admin, PUBLISHER_CLIENT_NAME)
                    await asyncio.sleep(0.8)
                    await admin.config_set("maxclients", 10000)
                    await watch.end()
            page = await harness.history.list_items(
                conversation.user_id, conversation.thread_id
            )
            stored = await harness.history.get_run(conversation.user_id, run.id)
        finally:
            await admin.aclose()
            await harness.aclose()

    assert killed == 1
    events = [entry["event"] for entry in logs]
    assert "publishing paused" in events
    assert "publishing resumed" in events
    messages = watch.messages
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert messages[-1] == RunEnded(
        run_id=run.id, seq=len(messages), status="completed"
    )
    user, answer = (record.item for record in page.data)
    assert isinstance(user, UserMessageItem)
    assert isinstance(answer, AssistantMessageItem)
    assert answer.content[0].text == echo_of(SLOW_TEXT)
    assert "".join(text_deltas(messages)) == echo_of(SLOW_TEXT)
    assert (stored.status, stored.last_seq) == ("completed", len(messages))
