import uuid
from collections.abc import AsyncIterator

import pytest
from chatkit.types import ErrorEvent, ProgressUpdateEvent
from redis.asyncio import Redis

from shared import run_log
from shared.events import RunEnded, RunEvent
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
