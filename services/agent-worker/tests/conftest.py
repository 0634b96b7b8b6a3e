"""Fixtures of the agent-worker tests: Redis clients that count what they send."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from agent_worker.settings import AgentWorkerSettings
from shared.history_client import HistoryClient

from .harness import MODEL_SETUPS, Harness


@dataclass
class CommandCount:
    """Redis commands and round trips sent through pipelines."""

    commands: int = 0
    round_trips: int = 0
    expires: int = 0


class CountingPipeline(Pipeline):
    """A pipeline that adds its commands to a CommandCount when executed."""

    count: CommandCount

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.count.commands += len(self.command_stack)
        self.count.expires += sum(
            1 for args, _ in self.command_stack if args[0] == "EXPIRE"
        )
        self.count.round_trips += 1
        return await super().execute(raise_on_error)


class CountingRedis(Redis):
    """A Redis client whose pipelines are counted (the publisher only pipelines)."""

    count: CommandCount

    def pipeline(
        self, transaction: bool = True, shard_hint: str | None = None
    ) -> CountingPipeline:
        pipe = CountingPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.count = self.count
        return pipe


@pytest.fixture
async def counting_redis(redis_url: str) -> AsyncIterator[CountingRedis]:
    """A fresh counting client on the session's Redis."""
    client = CountingRedis.from_url(redis_url)
    client.count = CommandCount()
    yield client
    await client.aclose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client for reading what the code under test wrote."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def worker_queue(queue_name: str) -> str:
    """A queue only these tests use (other suites may run workers on theirs)."""
    return f"{queue_name}:agent-worker-tests"


def worker_settings(
    redis_url: str, history_url: str, queue: str, **values: Any
) -> AgentWorkerSettings:
    """Settings as the environment would give them, ignoring any .env file."""
    return AgentWorkerSettings(
        _env_file=None,
        env="test",
        redis_url=redis_url,
        history_url=history_url,
        queue_name=queue,
        **values,
    )


API_KEY = "sk-test-worker-key-0123456789"


def fake_model_settings(
    redis_url: str,
    history_url: str,
    queue: str,
    fake_model: str,
    *,
    setup: str = "responses",
    **values: Any,
) -> AgentWorkerSettings:
    """Settings of a worker that talks to the fake model through one model path."""
    return worker_settings(
        redis_url,
        history_url,
        queue,
        openai_api_key=API_KEY,
        openai_base_url=fake_model,
        **MODEL_SETUPS[setup],
        **values,
    )


@contextlib.asynccontextmanager
async def harness_on_fake_model(
    setup: str,
    redis_url: str,
    history_url: str,
    worker_queue: str,
    fake_model: str,
    attachments_dir: Path,
) -> AsyncIterator[Harness]:
    """A harness whose worker talks to the fake model through one model path."""
    settings = fake_model_settings(
        redis_url,
        history_url,
        worker_queue,
        fake_model,
        setup=setup,
        attachments_dir=attachments_dir,
    )
    harness = Harness(settings)
    try:
        yield harness
    finally:
        await harness.aclose()


@pytest.fixture(params=list(MODEL_SETUPS))
async def model_harness(
    request: pytest.FixtureRequest,
    redis_url: str,
    history_url: str,
    worker_queue: str,
    fake_model: str,
    attachments_dir: Path,
) -> AsyncIterator[Harness]:
    """A harness whose worker talks to the fake model, once per model path."""
    async with harness_on_fake_model(
        request.param, redis_url, history_url, worker_queue, fake_model, attachments_dir
    ) as harness:
        yield harness


@pytest.fixture
async def fake_harness(
    redis_url: str,
    history_url: str,
    worker_queue: str,
    fake_model: str,
    attachments_dir: Path,
) -> AsyncIterator[Harness]:
    """A harness whose worker talks to the fake model over the Responses API."""
    async with harness_on_fake_model(
        "responses", redis_url, history_url, worker_queue, fake_model, attachments_dir
    ) as harness:
        yield harness


@pytest.fixture
async def history(history_url: str) -> AsyncIterator[HistoryClient]:
    """A client of the session's history service."""
    client = HistoryClient(history_url)
    yield client
    await client.aclose()
