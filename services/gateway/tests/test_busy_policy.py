"""BUSY_POLICY and ON_DISCONNECT, each on a gateway configured for it.

A second streaming request on a busy thread: ``enqueue`` waits for the active
run to end (or is refused after GATEWAY_BUSY_WAIT_S), ``interrupt`` cancels it
first; ``reject`` is covered in test_chatkit_route. A client that goes away
cancels its run only under ON_DISCONNECT=cancel.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from chatkit.types import ErrorEvent, UserMessageItem, UserMessageTextContent
from fastapi import FastAPI
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.ids import new_id
from shared.redis_keys import run_control_channel
from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import iter_frames, parse_sse
from testkit.tokens import auth_headers, jwt_for

from .flows import add_body, create_body, events_of, live_turn
from .worker_double import WorkerDouble

Serve = Callable[[FastAPI], AbstractContextManager[str]]


@pytest.fixture(scope="module")
def policy_gateway(
    redis_url: str,
    gateway_queue: str,
    history_url: str,
    attachments_dir: Path,
    make_settings: Callable[..., GatewaySettings],
    serve_app: Serve,
) -> Callable[..., AbstractContextManager[str]]:
    """Start a gateway with some settings changed (shared queue, real history)."""

    @contextlib.contextmanager
    def start(**values: Any) -> Iterator[str]:
        settings = make_settings(
            redis_url=redis_url,
            queue_name=gateway_queue,
            history_url=history_url,
            gateway_keepalive_s=0.2,
            attachments_dir=attachments_dir,
            **values,
        )
        with serve_app(create_app(settings)) as url:
            yield url

    return start


@contextlib.asynccontextmanager
async def _client(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


def _user() -> str:
    return new_id("req")


async def _second_message(
    http: httpx.AsyncClient, user: str, thread_id: str
) -> httpx.Response:
    async with http.stream(
        "POST",
        "/chatkit",
        json=add_body(thread_id, "second"),
        headers=auth_headers(user),
    ) as response:
        await response.aread()
    return response


async def _user_texts(http: httpx.AsyncClient, user: str, thread_id: str) -> list[str]:
    items = await ChatKitClient(http, jwt_for(user)).list_items(thread_id, order="asc")
    return [
        part.text
        for item in items.data
        if isinstance(item, UserMessageItem)
        for part in item.content
        if isinstance(part, UserMessageTextContent)
    ]


async def test_enqueue_waits_for_the_active_run_then_opens_the_next(
    policy_gateway: Callable[..., AbstractContextManager[str]], worker: WorkerDouble
) -> None:
    user = _user()
    with policy_gateway(busy_policy="enqueue") as url:
        async with _client(url) as http:
            async with live_turn(http, worker, user, create_body("first")) as first:
                thread_id = first.job.thread_id
                second = asyncio.create_task(_second_message(http, user, thread_id))
                await asyncio.sleep(0.5)
                assert not second.done()  # waiting, nothing stored yet
                assert await _user_texts(http, user, thread_id) == ["first"]
                await worker.run(first.job, [], "completed")
                await first.rest()
            _, next_job = await worker.job_for(thread_id)
            await worker.run(next_job, [], "completed")
            response = await second
            assert response.headers["x-run-id"] == next_job.run_id
            types = [e.type for e in events_of(parse_sse(response.text).frames)]
            assert types == ["thread.item.done", "stream_options"]
            assert await _user_texts(http, user, thread_id) == ["first", "second"]


async def test_enqueue_refuses_once_the_busy_wait_is_over(
    policy_gateway: Callable[..., AbstractContextManager[str]], worker: WorkerDouble
) -> None:
    user = _user()
    with policy_gateway(busy_policy="enqueue", gateway_busy_wait_s=0.3) as url:
        async with _client(url) as http:
            async with live_turn(http, worker, user, create_body("first")) as first:
                thread_id = first.job.thread_id
                response = await _second_message(http, user, thread_id)
                [error] = events_of(parse_sse(response.text).frames)
                assert isinstance(error, ErrorEvent)
                assert error.allow_retry
                assert "x-run-id" not in response.headers
                await worker.run(first.job, [], "completed")
                await first.rest()
            assert await _user_texts(http, user, thread_id) == ["first"]


async def test_interrupt_cancels_the_active_run_then_opens_the_next(
    policy_gateway: Callable[..., AbstractContextManager[str]],
    worker: WorkerDouble,
    redis_url: str,
) -> None:
    user = _user()
    redis = Redis.from_url(redis_url)
    control = redis.pubsub()
    with policy_gateway(busy_policy="interrupt") as url:
        async with _client(url) as http:
            async with live_turn(http, worker, user, create_body("first")) as first:
                thread_id, run_id = first.job.thread_id, first.job.run_id
                await worker.begin(first.job)
                await control.subscribe(run_control_channel(run_id))
                second = asyncio.create_task(_second_message(http, user, thread_id))
                async with asyncio.timeout(5):
                    async for message in control.listen():
                        if message["type"] == "message":
                            break
                assert (await worker.history.get_run(user, run_id)).cancel_requested
                await worker.finish(first.job, "cancelled")
                await first.rest()
            _, next_job = await worker.job_for(thread_id)
            await worker.run(next_job, [], "completed")
            response = await second
            assert response.headers["x-run-id"] == next_job.run_id
            assert await _user_texts(http, user, thread_id) == ["first", "second"]
    await control.aclose()
    await redis.aclose()


async def _disconnect_mid_stream(
    http: httpx.AsyncClient, worker: WorkerDouble, user: str
) -> tuple[str, str]:
    """Open a stream, read its opening, then leave; (run id, thread id)."""
    async with http.stream(
        "POST", "/chatkit", json=create_body("leaving"), headers=auth_headers(user)
    ) as response:
        frames = iter_frames(response)
        for _ in range(3):
            await anext(frames)
        thread_id = response.headers["x-thread-id"]
        _, job = await worker.job_for(thread_id)
        await worker.begin(job)
    return job.run_id, thread_id


async def _eventually_cancel_requested(
    worker: WorkerDouble, user: str, run_id: str
) -> None:
    for _ in range(100):
        if (await worker.history.get_run(user, run_id)).cancel_requested:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run was never asked to stop")


async def test_client_going_away_cancels_the_run_under_on_disconnect_cancel(
    policy_gateway: Callable[..., AbstractContextManager[str]], worker: WorkerDouble
) -> None:
    user = _user()
    with policy_gateway(on_disconnect="cancel") as url:
        async with _client(url) as http:
            run_id, _ = await _disconnect_mid_stream(http, worker, user)
            await _eventually_cancel_requested(worker, user, run_id)


async def test_client_going_away_leaves_the_run_alone_by_default(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    run_id, _ = await _disconnect_mid_stream(http, worker, user)
    await asyncio.sleep(0.5)
    run = await worker.history.get_run(user, run_id)
    assert (run.status, run.cancel_requested) == ("running", False)
