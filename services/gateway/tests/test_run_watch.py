"""A quiet stream checks its run: a dead worker's run is reaped, a lost end made up.

A history of its own gives running runs a one-second lease; the test's worker
"dies" by publishing nothing after a first event. The gateway (keepalive 0.2 s)
must end the client's stream with a retryable error on its own, without any
worker's reaper.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from chatkit.types import ErrorEvent
from fastapi import FastAPI
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared import run_log
from shared.events import RunEnded
from shared.history_api import RunUpdate
from shared.history_client import HistoryClient
from shared.ids import new_id
from testkit.services import start_history

from .flows import answer_started, create_body, events_of, live_turn, text_delta
from .worker_double import WorkerDouble


@pytest.fixture(scope="module")
def short_lease_history(pg_dsn: str, service_log_dir: Path) -> Iterator[str]:
    """history on the session's database, giving running runs a 1 s lease."""
    service = start_history(
        pg_dsn,
        service_log_dir,
        settings={"HISTORY_RUNNING_LEASE_S": "1"},
        name="history-short-lease",
    )
    try:
        yield service.url
    finally:
        service.process.stop()


@pytest.fixture(scope="module")
def watch_gateway_url(
    redis_url: str,
    gateway_queue: str,
    short_lease_history: str,
    make_settings: Callable[..., GatewaySettings],
    serve_app: Callable[[FastAPI], AbstractContextManager[str]],
) -> Iterator[str]:
    settings = make_settings(
        redis_url=redis_url,
        queue_name=gateway_queue,
        history_url=short_lease_history,
        gateway_keepalive_s=0.2,
    )
    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture
async def watch_http(watch_gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=watch_gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
async def short_worker(
    redis_url: str, short_lease_history: str, gateway_queue: str
) -> AsyncIterator[WorkerDouble]:
    redis = Redis.from_url(redis_url)
    history = HistoryClient(short_lease_history)
    yield WorkerDouble(redis, history, gateway_queue)
    await history.aclose()
    await redis.aclose()


def _user() -> str:
    return new_id("req")


async def test_stream_of_a_run_whose_worker_died_ends_with_a_retryable_error(
    watch_http: httpx.AsyncClient, short_worker: WorkerDouble
) -> None:
    user, worker = _user(), short_worker
    async with live_turn(watch_http, worker, user, create_body("then")) as live:
        job, thread_id = live.job, live.job.thread_id
        await worker.begin(job)  # a 1 s lease, never extended: the worker is gone
        await worker.emit(
            job, [answer_started(thread_id, "msg_w"), text_delta("msg_w", "half")]
        )
        events = events_of(await live.rest())
    *_, error = events
    assert isinstance(error, ErrorEvent)
    assert (error.code, error.allow_retry) == ("stream.error", True)
    run = await worker.history.get_run(user, job.run_id)
    assert run.status == "failed"
    logged = await run_log.read_after(worker.redis, job.run_id, 2)
    assert [type(message) for message in logged][-1] is RunEnded


async def test_stream_whose_end_never_arrived_ends_from_the_stored_status(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    async with live_turn(http, worker, user, create_body("quiet end")) as live:
        job = live.job
        await worker.begin(job)
        # Finished in history, but the end marker is never published.
        await worker.history.update_run(user, job.run_id, RunUpdate(status="failed"))
        events = events_of(await live.rest())
    assert [e.type for e in events][-1] == "error"
