"""Watch a run while it streams: a long-running worker and a reader of its events.

The durable-run tests act in the middle of an answer (cancel, take the run
over, break Redis or history), so they need a worker that keeps running and a
subscriber they can read from step by step, instead of the harness's burst
worker that runs every queued job to its end first.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
)
from redis.asyncio.client import PubSub

from agent_worker.settings import AgentWorkerSettings
from agent_worker.worker import build_worker
from shared import run_log
from shared.events import RunEnded, RunEvent
from shared.history_api import RunRecord
from shared.history_client import HistoryClient
from shared.redis_keys import run_events_channel

from .harness import Conversation, next_payload

RunMessage = RunEvent | RunEnded
FINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class Watch:
    """What a subscriber of one run received so far."""

    pubsub: PubSub
    messages: list[RunMessage] = field(default_factory=list)

    async def until(
        self, done: Callable[[list[RunMessage]], bool], timeout_s: float = 10.0
    ) -> list[RunMessage]:
        """Read until `done(messages)`; AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not done(self.messages):
            left = deadline - time.monotonic()
            data = await next_payload(self.pubsub, max(left, 0.0))
            if data is None:
                raise AssertionError(f"not done within {timeout_s}s: {self.messages}")
            self.messages.extend(run_log.parse_batch(data))
        return self.messages

    async def deltas(self, count: int) -> list[RunMessage]:
        """Read until `count` text deltas arrived."""
        return await self.until(lambda got: len(text_deltas(got)) >= count)

    async def end(self, timeout_s: float = 10.0) -> RunEnded:
        """Read until RunEnded."""
        messages = await self.until(ended, timeout_s)
        last = messages[-1]
        assert isinstance(last, RunEnded)
        return last

    async def quiet(self, seconds: float) -> list[RunMessage]:
        """Whatever arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            data = await next_payload(self.pubsub, left)
            if data is not None:
                self.messages.extend(run_log.parse_batch(data))
        return self.messages


def ended(messages: list[RunMessage]) -> bool:
    """Whether the last message is the run's end."""
    return bool(messages) and isinstance(messages[-1], RunEnded)


def text_deltas(messages: list[RunMessage]) -> list[str]:
    """The text deltas among the messages, in order."""
    return [
        m.event.update.delta
        for m in messages
        if isinstance(m, RunEvent)
        and isinstance(m.event, ThreadItemUpdatedEvent)
        and isinstance(m.event.update, AssistantMessageContentPartTextDelta)
    ]


def done_items(messages: list[RunMessage]) -> list[Any]:
    """The items of the `thread.item.done` events, in order."""
    return [
        m.event.item
        for m in messages
        if isinstance(m, RunEvent) and isinstance(m.event, ThreadItemDoneEvent)
    ]


def echo_of(text: str, user_turns: int = 1) -> str:
    """The scripted model's answer to a plain message."""
    return f"Echo: {text} (user turns: {user_turns})"


@contextlib.asynccontextmanager
async def running_worker(
    settings: AgentWorkerSettings, **overrides: Any
) -> AsyncIterator[Any]:
    """A worker serving the queue until the block ends (ready when entered)."""
    ready = asyncio.Event()
    worker: Any = build_worker(
        settings,
        handle_signals=False,
        on_ready=lambda ctx: ready.set(),
        **overrides,
    )
    running = asyncio.create_task(worker.async_run())
    await asyncio.wait_for(ready.wait(), timeout=30)
    try:
        yield worker
    finally:
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        await worker.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


@contextlib.asynccontextmanager
async def watched_run(
    conversation: Conversation, text: str
) -> AsyncIterator[tuple[RunRecord, Watch]]:
    """Open a run for `text`, subscribe to it, enqueue it; yield both."""
    harness = conversation.harness
    conversation.turns += 1
    run = await harness.open_run(conversation, text)
    async with harness.redis.pubsub() as pubsub:
        await pubsub.subscribe(run_events_channel(run.id))
        await harness.enqueue(conversation, run.id)
        yield run, Watch(pubsub)


async def final_run(
    history: HistoryClient, user_id: str, run_id: str, timeout_s: float = 15.0
) -> RunRecord:
    """The run record once it has a final status."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = await history.get_run(user_id, run_id)
        if run.status in FINAL or time.monotonic() > deadline:
            return run
        await asyncio.sleep(0.05)
