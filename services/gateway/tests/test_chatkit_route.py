"""POST /chatkit against real history and Redis; the test plays the worker.

The ``worker`` fixture (worker_double) reads the enqueued arq job from Redis,
publishes the run's events the way the worker does, and finishes the run.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ErrorEvent,
    HiddenContextItem,
    StreamOptionsEvent,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)
from redis.asyncio import Redis

from shared.history_api import ErrorBody
from shared.jobs import RUN_AGENT_JOB
from shared.redis_keys import queue_wakeup_channel
from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import (
    SseBody,
    SseFrame,
    iter_frames,
    validate_chatkit_frames,
    validate_simple_frames,
)
from testkit.tokens import auth_headers, jwt_for

from .worker_double import WorkerDouble


def _answer(thread_id: str, text: str) -> list[ThreadStreamEvent]:
    update = AssistantMessageContentPartTextDelta(content_index=0, delta=text)
    item = AssistantMessageItem(
        id=f"msg_answer_{thread_id[-8:]}",
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[AssistantMessageContent(text=text)],
    )
    return [
        ThreadItemUpdatedEvent(item_id=item.id, update=update),
        ThreadItemDoneEvent(item=item),
    ]


def _create_body(text: str) -> dict[str, Any]:
    return {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": text}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }


def _add_body(thread_id: str, text: str) -> dict[str, object]:
    params = {"thread_id": thread_id, "input": _create_body(text)["params"]["input"]}
    return {"type": "threads.add_user_message", "params": params}


def _events(frames: list[SseFrame]) -> list[ThreadStreamEvent]:
    return validate_chatkit_frames(SseBody(frames=frames))


async def _opening(response: httpx.Response) -> tuple[str, AsyncIterator[SseFrame]]:
    """Read the three opening frames of a threads.create stream; the thread id."""
    frames = iter_frames(response)
    created, user_done, options = _events(await _frames_until(frames, 3))
    assert isinstance(created, ThreadCreatedEvent)
    assert isinstance(user_done, ThreadItemDoneEvent)
    assert isinstance(options, StreamOptionsEvent)
    return created.thread.id, frames


async def _frames_until(frames: AsyncIterator[SseFrame], count: int) -> list[SseFrame]:
    return [await anext(frames) for _ in range(count)]


async def test_create_streams_the_sdk_opening_frames_then_the_workers_events(
    http: httpx.AsyncClient, worker: WorkerDouble, redis_url: str, gateway_queue: str
) -> None:
    wakeups = Redis.from_url(redis_url).pubsub()
    await wakeups.subscribe(queue_wakeup_channel(gateway_queue))
    long_text = "Plan my week: groceries, the dentist on Tuesday, and call mum " * 3
    async with http.stream(
        "POST", "/chatkit", json=_create_body(long_text), headers=auth_headers("u1")
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        frames = iter_frames(response)
        created, user_done, options = _events(await _frames_until(frames, 3))
        assert isinstance(created, ThreadCreatedEvent)
        thread = created.thread
        assert thread.id.startswith("thr_")
        assert thread.metadata == {}
        assert thread.title is not None
        assert len(thread.title) <= 61
        assert long_text.startswith(thread.title.rstrip("…"))
        assert isinstance(user_done, ThreadItemDoneEvent)
        assert isinstance(user_done.item, UserMessageItem)
        assert user_done.item.thread_id == thread.id
        assert user_done.item.content[0] == UserMessageTextContent(text=long_text)
        assert isinstance(options, StreamOptionsEvent)
        assert options.stream_options.allow_cancel is True

        function, job = await worker.job_for(thread.id)
        assert function == RUN_AGENT_JOB
        assert job.user_id == "u1"
        assert job.request_id == response.headers["x-request-id"]
        await worker.run(job, _answer(thread.id, "Done."), "completed")
        rest = _events([frame async for frame in frames])
    assert [event.type for event in rest] == ["thread.item.updated", "thread.item.done"]
    async with asyncio.timeout(5):
        async for wakeup in wakeups.listen():
            if wakeup["type"] == "message":
                break
    assert wakeup["data"] == job.run_id.encode()
    await wakeups.aclose()


async def test_quiet_run_stream_carries_keepalive_comments(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    async with http.stream(
        "POST", "/chatkit", json=_create_body("hello"), headers=auth_headers("u1")
    ) as response:
        lines = response.aiter_lines()
        seen: list[str] = []
        while seen.count(": keepalive") < 2:
            seen.append(await anext(lines))
        [created] = _events([SseFrame(seen[0].removeprefix("data: "))])
        assert isinstance(created, ThreadCreatedEvent)
        thread_id = created.thread.id
        _, job = await worker.job_for(thread_id)
        await worker.run(job, [], "completed")
        async for _ in lines:
            pass


async def test_message_while_the_thread_is_busy_gets_one_error_event_and_is_not_stored(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    client = ChatKitClient(http, jwt_for("u1"))
    async with http.stream(
        "POST", "/chatkit", json=_create_body("first"), headers=auth_headers("u1")
    ) as response:
        thread_id, _ = await _opening(response)

        busy = await client.stream(_add_body(thread_id, "second"))
        assert len(busy.events) == 1
        error = busy.events[0]
        assert isinstance(error, ErrorEvent)
        assert (error.code, error.allow_retry) == ("custom", True)
        assert (
            error.message
            == "This conversation is still answering the previous message."
        )

        _, job = await worker.job_for(thread_id)
        await worker.run(job, _answer(thread_id, "ok"), "completed")
    items = await client.list_items(thread_id, order="asc")
    user_items = [item for item in items.data if isinstance(item, UserMessageItem)]
    assert [item.content for item in user_items] == [
        [UserMessageTextContent(text="first")]
    ]


async def test_add_user_message_to_a_missing_or_foreign_thread_is_404_json(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    owner = ChatKitClient(http, jwt_for("owner"))
    async with http.stream(
        "POST", "/chatkit", json=_create_body("mine"), headers=auth_headers("owner")
    ) as response:
        thread_id, _ = await _opening(response)
        _, job = await worker.job_for(thread_id)
        await worker.run(job, [], "completed")
    for user, target in [("stranger", thread_id), ("owner", "thr_does_not_exist")]:
        response = await ChatKitClient(http, jwt_for(user)).post(
            _add_body(target, "hi")
        )
        assert response.status_code == 404, response.text
        assert ErrorBody.model_validate_json(response.content).error == "not_found"
    assert (await owner.get_thread(thread_id)).id == thread_id


async def test_simple_format_creates_a_thread_and_streams_text_then_done(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    async with http.stream(
        "POST", "/chatkit", json={"message": "hi there"}, headers=auth_headers("u2")
    ) as response:
        thread_id = response.headers["x-thread-id"]
        run_id = response.headers["x-run-id"]
        frames = iter_frames(response)
        first = await anext(frames)
        assert json.loads(first.data) == {
            "type": "thread",
            "thread_id": thread_id,
            "run_id": run_id,
        }
        _, job = await worker.job_for(thread_id)
        await worker.run(job, _answer(thread_id, "Hello!"), "completed")
        rest = [first, *[frame async for frame in frames]]
    events, done = validate_simple_frames(SseBody(frames=rest))
    assert done
    assert [e.type for e in events] == ["thread", "text"]
    client = ChatKitClient(http, jwt_for("u2"))
    thread = await client.get_thread(thread_id)
    assert thread.title == "hi there"
    assert [item.type for item in thread.items.data] == [
        "user_message",
        "assistant_message",
    ]

    other = await ChatKitClient(http, jwt_for("u3")).post(
        {"message": "sneak in", "thread_id": thread_id}
    )
    assert other.status_code == 404


async def test_json_ops_answer_like_the_sdk_and_hide_hidden_items(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = "u4"
    client = ChatKitClient(http, jwt_for(user))
    async with http.stream(
        "POST",
        "/chatkit",
        json=_create_body("remember milk"),
        headers=auth_headers(user),
    ) as response:
        thread_id, _ = await _opening(response)
        _, job = await worker.job_for(thread_id)
        hidden = HiddenContextItem(
            id="hc_" + thread_id[-8:], thread_id=thread_id,
            created_at=datetime.now(UTC), content="for the model only",
        )  # fmt: skip
        await worker.history.add_item(user, thread_id, hidden)
        await worker.run(job, _answer(thread_id, "Noted."), "completed")

    thread = await client.get_thread(thread_id)
    assert thread.metadata == {}
    assert [item.type for item in thread.items.data] == [
        "user_message",
        "assistant_message",
    ]
    newest_first = await client.list_items(thread_id, order="desc", limit=2)
    # Hidden items are filtered after paging, as the SDK does.
    assert [item.type for item in newest_first.data] == ["assistant_message"]
    assert newest_first.has_more

    renamed = await client.update_thread(thread_id, "Shopping")
    assert renamed.title == "Shopping"
    assert renamed.items.data == []
    listed = await client.list_threads(limit=1)
    assert listed.data[0].id == thread_id
    assert listed.data[0].items.data == []

    await client.delete_thread(thread_id)
    missing = await client.post(
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    )
    assert missing.status_code == 404


async def test_unreachable_history_is_a_503_that_says_when_to_retry(
    bare_http: httpx.AsyncClient,
) -> None:
    get_thread = {"type": "threads.get_by_id", "params": {"thread_id": "thr_1"}}
    for response in (
        await bare_http.post("/chatkit", json=get_thread, headers=auth_headers("u")),
        await bare_http.post(
            "/chatkit", json=_create_body("hi"), headers=auth_headers("u")
        ),
        await bare_http.get("/chatkit/threads/thr_1/run", headers=auth_headers("u")),
        await bare_http.post("/chatkit/runs/run_1/cancel", headers=auth_headers("u")),
    ):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        body = ErrorBody.model_validate_json(response.content)
        assert body.error == "history_unavailable"
