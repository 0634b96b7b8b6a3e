import uuid
from collections.abc import AsyncIterator

import pytest
from chatkit.types import ErrorEvent, ProgressUpdateEvent
from redis.asyncio import Redis

from shared import run_log
from shared.events import RunEnded, RunEvent, dump_run_message
from shared.redis_keys import run_log as run_log_key


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def run_id(redis: Redis) -> AsyncIterator[str]:
    run = f"run_test_{uuid.uuid4().hex}"
    yield run
    await redis.delete(run_log_key(run))


def progress(run_id: str, seq: int) -> RunEvent:
    return RunEvent(run_id=run_id, seq=seq, event=ProgressUpdateEvent(text=f"{seq}"))


async def test_reader_resumes_strictly_after_the_given_sequence_number(
    redis: Redis, run_id: str
) -> None:
    messages = [progress(run_id, seq) for seq in (1, 2, 3)]
    await run_log.append(redis, run_id, messages, maxlen=100, ttl_s=60)
    assert await run_log.read_after(redis, run_id, 1) == messages[1:]
    assert await run_log.read_after(redis, run_id) == messages
    assert await run_log.last_seq(redis, run_id) == 3
    assert 0 < await redis.ttl(run_log_key(run_id)) <= 60


async def test_failure_end_continues_the_numbering_and_happens_once(
    redis: Redis, run_id: str
) -> None:
    await run_log.append(redis, run_id, [progress(run_id, 1)], maxlen=100, ttl_s=60)
    assert await run_log.end_with_failure(redis, run_id, maxlen=100, ttl_s=60)
    assert not await run_log.end_with_failure(redis, run_id, maxlen=100, ttl_s=60)
    _, error, ended = await run_log.read_after(redis, run_id)
    assert isinstance(error, RunEvent)
    assert error.seq == 2
    assert error.event == ErrorEvent(code="stream.error", allow_retry=True)
    assert ended == RunEnded(run_id=run_id, seq=3, status="failed")


async def test_an_empty_log_reads_as_nothing_with_sequence_zero(
    redis: Redis, run_id: str
) -> None:
    assert await run_log.read_after(redis, run_id) == []
    assert await run_log.last_seq(redis, run_id) == 0


async def test_a_batch_is_one_entry_and_a_reader_resumes_inside_it(
    redis: Redis, run_id: str
) -> None:
    first = [progress(run_id, seq) for seq in (1, 2)]
    second = [progress(run_id, seq) for seq in (3, 4, 5)]
    await run_log.append(redis, run_id, first, maxlen=100, ttl_s=60)
    await run_log.append(redis, run_id, second, maxlen=100, ttl_s=60)

    entries = await redis.xrange(run_log_key(run_id))
    assert [entry_id for entry_id, _ in entries] == [b"2-0", b"5-0"]
    assert await run_log.read_after(redis, run_id, 3) == second[1:]
    assert await run_log.read_after(redis, run_id, 1) == [*first[1:], *second]
    assert await run_log.last_seq(redis, run_id) == 5


async def test_a_batch_ending_with_the_end_is_not_ended_twice(
    redis: Redis, run_id: str
) -> None:
    ended = RunEnded(run_id=run_id, seq=2, status="completed")
    await run_log.append(
        redis, run_id, [progress(run_id, 1), ended], maxlen=100, ttl_s=60
    )
    assert not await run_log.end_with_failure(redis, run_id, maxlen=100, ttl_s=60)
    assert await run_log.read_after(redis, run_id, 1) == [ended]


def test_a_batch_keeps_each_message_byte_for_byte_even_with_newlines_in_text() -> None:
    messages: list[RunEvent | RunEnded] = [
        RunEvent(run_id="run_1", seq=1, event=ProgressUpdateEvent(text="a\nb\r\n")),
        RunEnded(run_id="run_1", seq=2, status="completed"),
    ]
    data = run_log.dump_batch(messages)
    assert run_log.split_batch(data) == [dump_run_message(m) for m in messages]
    assert run_log.parse_batch(data) == messages
    assert run_log.dump_batch(messages[:1]) == dump_run_message(messages[0])
