"""The process's heartbeat batcher: one request renews every run it holds.

Each member gets its own run's answer: a renewed lease, or lost once the run
is no longer its worker's.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from agent_worker.heartbeats import BeatAnswer, HeartbeatBatcher
from shared.history_api import RunBeat, RunRecord, RunUpdate
from shared.history_client import HistoryClient

from .conftest import worker_settings
from .harness import Conversation, Harness

INTERVAL_S = 0.2
ANSWER_TIMEOUT_S = 10.0
"""Not a timing check: only how long a broken batcher may hang the test."""


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts the requests that pass through it."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


@pytest.fixture
async def harness(
    redis_url: str, history_url: str, worker_queue: str
) -> AsyncIterator[Harness]:
    harness = Harness(worker_settings(redis_url, history_url, worker_queue))
    yield harness
    await harness.aclose()


class Member:
    """A run in the batch, with its answers as they come."""

    def __init__(self, conversation: Conversation, run: RunRecord) -> None:
        self.user_id = conversation.user_id
        self.run = run
        self.beat = RunBeat(
            run_id=run.id, user_id=self.user_id, fencing_token=run.fencing_token
        )
        self.answers: asyncio.Queue[BeatAnswer] = asyncio.Queue()

    async def next_answer(self) -> BeatAnswer:
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            return await self.answers.get()


async def _member(harness: Harness) -> Member:
    conversation = harness.conversation()
    conversation.turns = 1
    return Member(conversation, await harness.open_run(conversation, "hello"))


async def test_one_request_renews_every_run_and_an_ended_run_is_lost(
    harness: Harness,
) -> None:
    transport = CountingTransport()
    history = HistoryClient(harness.settings.history_url, transport=transport)
    batcher = HeartbeatBatcher(history, lease_s=600, interval_s=INTERVAL_S)
    first, second = await _member(harness), await _member(harness)
    try:
        with (
            batcher.join(first.beat, first.answers.put_nowait),
            batcher.join(second.beat, second.answers.put_nowait),
        ):
            renewed = [await first.next_answer(), await second.next_answer()]
            requests = list(transport.paths)
            await harness.history.update_run(
                second.user_id,
                second.run.id,
                RunUpdate(status="completed", fencing_token=second.run.fencing_token),
            )
            await _skip_answers_before(second, "lost")
            still = await first.next_answer()
    finally:
        await batcher.aclose()
        await history.aclose()

    assert requests == ["/v1/runs/heartbeats"]
    assert [a.beaten and (a.beaten.run_id, a.beaten.lost) for a in renewed] == [
        (first.run.id, False),
        (second.run.id, False),
    ]
    assert still.beaten is not None
    assert not still.beaten.lost


async def _skip_answers_before(member: Member, outcome: str) -> None:
    """Wait for the member's first answer that says `outcome` ("lost")."""
    while True:
        answer = await member.next_answer()
        if answer.beaten is not None and answer.beaten.lost == (outcome == "lost"):
            return


async def test_a_failed_request_answers_every_member_without_a_lease(
    harness: Harness,
) -> None:
    history = HistoryClient("http://127.0.0.1:9", timeout_s=1.0)
    batcher = HeartbeatBatcher(history, lease_s=600, interval_s=INTERVAL_S)
    member = await _member(harness)
    try:
        with batcher.join(member.beat, member.answers.put_nowait):
            failed = [await member.next_answer(), await member.next_answer()]
    finally:
        await batcher.aclose()
        await history.aclose()

    assert [answer.beaten for answer in failed] == [None, None]
