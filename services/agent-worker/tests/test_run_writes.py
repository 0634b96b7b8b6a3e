"""run_writes.py: history briefly away costs no done item; a refusal loses the lease."""

import asyncio
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from chatkit.types import AssistantMessageItem
from structlog.testing import capture_logs

from agent_worker.lease import Lease
from agent_worker.run_writes import LeaseLostError, with_retries
from shared.events import RunEnded
from shared.history_client import HistoryClient, HistoryConflict, HistoryError
from testkit.tcp_proxy import TcpProxy, TcpTarget, running_proxy

from .conftest import fake_model_settings
from .harness import Harness
from .live import echo_of, running_worker, watched_run

SLOW_TEXT = "[slow] say it while history is away"
OUTAGE_S = 3.0
"""Longer than the rest of the paced answer: its done item meets the outage."""


@pytest.fixture
def history_proxy(history_url: str) -> Iterator[TcpProxy]:
    """A pausable proxy in front of the session's history."""
    parts = urlsplit(history_url)
    assert parts.hostname is not None
    assert parts.port is not None
    with running_proxy(TcpTarget(host=parts.hostname, port=parts.port)) as proxy:
        yield proxy


async def test_history_unreachable_at_the_done_item_loses_nothing(
    history_proxy: TcpProxy,
    history: HistoryClient,
    redis_url: str,
    worker_queue: str,
    fake_model: str,
) -> None:
    settings = fake_model_settings(
        redis_url,
        f"http://127.0.0.1:{history_proxy.port}",
        f"{worker_queue}:writes",
        fake_model,
    )
    harness = Harness(settings)
    conversation = harness.conversation()
    try:
        async with (
            running_worker(settings),
            watched_run(conversation, SLOW_TEXT) as (run, watch),
        ):
            await watch.deltas(2)
            with capture_logs() as logs:
                history_proxy.pause("refuse")
                await asyncio.sleep(OUTAGE_S)
                history_proxy.resume()
                end = await watch.end(timeout_s=15.0)
    finally:
        await harness.aclose()

    assert "history write failed, retrying" in [entry["event"] for entry in logs]
    assert end == RunEnded(run_id=run.id, seq=len(watch.messages), status="completed")
    page = await history.list_items(conversation.user_id, conversation.thread_id)
    assert [r.item.type for r in page.data] == ["user_message", "assistant_message"]
    answer = page.data[1].item
    assert isinstance(answer, AssistantMessageItem)
    assert answer.content[0].text == echo_of(SLOW_TEXT)
    stored = await history.get_run(conversation.user_id, run.id)
    assert (stored.status, stored.last_seq) == ("completed", len(watch.messages))


async def test_unavailable_history_is_retried_until_it_answers() -> None:
    answers: list[BaseException | str] = [
        HistoryError(503, "unavailable"),
        HistoryError(503, "unavailable"),
        "stored",
    ]
    attempts: list[int] = []

    async def call(attempt: int) -> str:
        attempts.append(attempt)
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    result = await with_retries(call, budget_s=5.0, what="test")

    assert (result, attempts) == ("stored", [0, 1, 2])


async def test_conflict_on_a_fenced_write_loses_the_lease_without_retrying() -> None:
    lease = Lease("run_x", fencing_token=3)
    attempts: list[int] = []

    async def call(attempt: int) -> None:
        attempts.append(attempt)
        raise HistoryConflict(409, "stale_run")

    with pytest.raises(LeaseLostError):
        await with_retries(call, budget_s=5.0, what="test", lease=lease)

    assert attempts == [0]
    assert lease.lost


async def test_a_refusal_other_than_unavailable_is_not_retried() -> None:
    attempts: list[int] = []

    async def call(attempt: int) -> None:
        attempts.append(attempt)
        raise HistoryError(422, "invalid")

    with pytest.raises(HistoryError):
        await with_retries(call, budget_s=5.0, what="test")

    assert attempts == [0]
