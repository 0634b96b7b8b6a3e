"""Run status, cancel and the run headers, on real history and Redis.

The test plays the worker (worker_double); every answer is validated with the
gateway's response models and every frame with the chatkit types.
"""

import asyncio
import json
from datetime import timedelta

import httpx
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from gateway.cancel import CancelAnswer
from gateway.routes.runs import RunView
from shared.history_api import ErrorBody
from shared.ids import new_id
from shared.redis_keys import run_cancel, run_control_channel
from testkit.chatkit_sse import parse_sse, validate_simple_frames
from testkit.tokens import auth_headers

from .flows import (
    answer_item,
    answer_started,
    create_body,
    done,
    events_of,
    live_turn,
    new_thread,
    text_delta,
    turn,
)
from .worker_double import WorkerDouble


def _user() -> str:
    return new_id("req")


async def _run_view(http: httpx.AsyncClient, user: str, thread_id: str) -> RunView:
    response = await http.get(
        f"/chatkit/threads/{thread_id}/run", headers=auth_headers(user)
    )
    assert response.status_code == 200, response.text
    return RunView.model_validate_json(response.content)


async def test_chatkit_stream_names_its_run_and_thread_in_headers(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    async with live_turn(http, worker, user, create_body("hi")) as live:
        headers = live.response.headers
        assert headers["x-run-id"] == live.job.run_id
        assert headers["x-thread-id"] == live.job.thread_id
        await worker.run(live.job, [], "completed")
        frames = await live.rest()
    # POST /chatkit frames stay the SDK's bytes: no id lines.
    assert all(frame.id is None for frame in frames)
    assert [e.type for e in events_of(frames)] == [
        "thread.created",
        "thread.item.done",
        "stream_options",
    ]


async def test_simple_stream_carries_the_run_id_and_an_id_line_per_relayed_event(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    async with http.stream(
        "POST", "/chatkit", json={"message": "hey"}, headers=auth_headers(user)
    ) as response:
        thread_id = response.headers["x-thread-id"]
        run_id = response.headers["x-run-id"]
        _, job = await worker.job_for(thread_id)
        await worker.begin(job)
        await worker.emit(
            job,
            [
                answer_started(thread_id, "msg_a"),
                text_delta("msg_a", "Hel"),
                text_delta("msg_a", "lo"),
            ],
        )
        await worker.finish(job, "completed")
        body = (await response.aread()).decode()
    sse = parse_sse(body)
    events, ended = validate_simple_frames(sse)
    assert ended
    assert json.loads(sse.frames[0].data) == {
        "type": "thread",
        "thread_id": thread_id,
        "run_id": run_id,
    }
    assert [(e.type, f.id) for e, f in zip(events, sse.frames, strict=False)] == [
        ("thread", None),
        ("text", "2"),
        ("text", "3"),
    ]
    assert sse.frames[-1].data == "[DONE]"
    assert sse.frames[-1].id == "4"


async def test_thread_run_shows_live_last_seq_while_running_then_the_final_status(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    async with live_turn(http, worker, user, create_body("count")) as live:
        thread_id = live.job.thread_id
        queued = await _run_view(http, user, thread_id)
        assert (queued.run_id, queued.status, queued.last_seq) == (
            live.job.run_id,
            "queued",
            0,
        )
        await worker.begin(live.job)
        await worker.emit(
            live.job,
            [answer_started(thread_id, "msg_b"), text_delta("msg_b", "1")],
        )
        running = await _run_view(http, user, thread_id)
        assert (running.status, running.last_seq) == ("running", 2)
        await worker.finish(live.job, "completed")
        await live.rest()
    finished = await _run_view(http, user, thread_id)
    assert (finished.status, finished.last_seq) == ("completed", 3)


async def test_thread_run_of_an_unknown_or_foreign_thread_is_404(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    owner = _user()
    thread_id = await new_thread(http, worker, owner)
    for user, target in [(_user(), thread_id), (owner, "thr_unknown")]:
        response = await http.get(
            f"/chatkit/threads/{target}/run", headers=auth_headers(user)
        )
        assert response.status_code == 404
        assert ErrorBody.model_validate_json(response.content).error == "not_found"


async def test_run_is_opened_with_its_kind_and_the_queued_lease(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    created = await turn(http, worker, user, create_body("kind"))
    run = await worker.history.get_run(user, created.job.run_id)
    assert run.kind == "create"
    assert run.lease_expires_at is not None
    lease = run.lease_expires_at - run.created_at
    # GATEWAY_QUEUED_LEASE_S default; the double's "running" may extend it.
    assert timedelta(seconds=25) <= lease <= timedelta(seconds=301)


async def test_cancel_of_an_active_run_is_persisted_keyed_and_signalled(
    http: httpx.AsyncClient, worker: WorkerDouble, redis_url: str
) -> None:
    user = _user()
    redis = Redis.from_url(redis_url)
    control = redis.pubsub()
    try:
        async with live_turn(http, worker, user, create_body("stop me")) as live:
            run_id, thread_id = live.job.run_id, live.job.thread_id
            await control.subscribe(run_control_channel(run_id))
            await worker.begin(live.job)
            for path in (
                f"/chatkit/threads/{thread_id}/cancel",
                f"/chatkit/runs/{run_id}/cancel",
            ):
                response = await http.post(path, headers=auth_headers(user))
                assert response.status_code == 200, response.text
                answer = CancelAnswer.model_validate_json(response.content)
                assert answer == CancelAnswer(
                    run_id=run_id, status="running", cancel_requested=True
                )
            assert (await worker.history.get_run(user, run_id)).cancel_requested
            assert await redis.ttl(run_cancel(run_id)) > 0
            signals = await _messages(control, 2)
            assert signals == [b"cancel", b"cancel"]
            await worker.finish(live.job, "cancelled")
            await live.rest()
    finally:
        await control.aclose()
        await redis.aclose()


async def _messages(control: PubSub, count: int) -> list[bytes]:
    received: list[bytes] = []
    async with asyncio.timeout(5):
        async for message in control.listen():
            if message["type"] == "message":
                received.append(message["data"])
                if len(received) == count:
                    return received
    return received


async def test_cancel_of_a_finished_run_answers_its_final_status_and_changes_nothing(
    http: httpx.AsyncClient, worker: WorkerDouble, redis_url: str
) -> None:
    user = _user()
    created = await turn(
        http, worker, user, create_body("done"), done(lambda t: answer_item(t, "ok"))
    )
    run_id, thread_id = created.job.run_id, created.job.thread_id
    response = await http.post(
        f"/chatkit/threads/{thread_id}/cancel", headers=auth_headers(user)
    )
    assert response.status_code == 200
    assert CancelAnswer.model_validate_json(response.content) == CancelAnswer(
        run_id=run_id, status="completed", cancel_requested=False
    )
    run = await worker.history.get_run(user, run_id)
    assert (run.status, run.cancel_requested) == ("completed", False)
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.exists(run_cancel(run_id)) == 0
    finally:
        await redis.aclose()


async def test_cancel_of_another_users_run_or_thread_is_404(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    owner, stranger = _user(), _user()
    created = await turn(http, worker, owner, create_body("mine"))
    for path in (
        f"/chatkit/threads/{created.job.thread_id}/cancel",
        f"/chatkit/runs/{created.job.run_id}/cancel",
        "/chatkit/runs/run_unknown/cancel",
    ):
        response = await http.post(path, headers=auth_headers(stranger))
        assert response.status_code == 404, path
        assert ErrorBody.model_validate_json(response.content).error == "not_found"


async def test_openapi_documents_the_run_endpoints_with_their_models(
    http: httpx.AsyncClient,
) -> None:
    spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    run_ok = paths["/chatkit/threads/{thread_id}/run"]["get"]["responses"]["200"]
    assert run_ok["content"]["application/json"]["schema"]["$ref"].endswith("/RunView")
    for path in (
        "/chatkit/threads/{thread_id}/cancel",
        "/chatkit/runs/{run_id}/cancel",
    ):
        ok = paths[path]["post"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith(
            "/CancelAnswer"
        )
    events = paths["/chatkit/runs/{run_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    names = {p["name"] for p in events["parameters"]}
    assert {"after", "format", "Last-Event-ID"} <= names
    assert "/chatkit/helper.js" in paths
    chatkit_params = {p["name"] for p in paths["/chatkit"]["post"]["parameters"]}
    assert "Idempotency-Key" in chatkit_params
    schemas = spec["components"]["schemas"]
    assert set(schemas["RunView"]["required"]) == {"run_id", "status", "last_seq"}
