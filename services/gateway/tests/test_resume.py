"""GET /chatkit/runs/{run_id}/events: replay from the run log, then live.

The test plays the worker, publishing through ``shared.run_log`` as the worker
does; a resuming client reads in its own task while the run goes on.
"""

import asyncio
import json

import httpx
from chatkit.types import ErrorEvent, ThreadItemDoneEvent
from redis.asyncio import Redis

from shared.history_api import ErrorBody
from shared.ids import new_id
from shared.redis_keys import run_log
from testkit.chatkit_sse import SseBody, parse_sse, validate_simple_frames
from testkit.tokens import auth_headers

from .flows import (
    answer_item,
    answer_started,
    create_body,
    events_of,
    live_turn,
    text_delta,
    turn,
)
from .worker_double import WorkerDouble


def _user() -> str:
    return new_id("req")


async def _read(
    http: httpx.AsyncClient,
    user: str,
    run_id: str,
    params: dict[str, str | int],
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, SseBody]:
    async with http.stream(
        "GET",
        f"/chatkit/runs/{run_id}/events",
        params=params,
        headers={**auth_headers(user), **(headers or {})},
    ) as response:
        body = (await response.aread()).decode()
    return response, parse_sse(body)


async def test_resume_replays_after_last_event_id_then_follows_the_run_live(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    async with live_turn(http, worker, user, create_body("resume me")) as live:
        job, thread_id = live.job, live.job.thread_id
        await worker.begin(job)
        await worker.emit(
            job,
            [
                answer_started(thread_id, "msg_r"),
                text_delta("msg_r", "one "),
                text_delta("msg_r", "two "),
            ],
        )
        # Last-Event-ID wins over ?after=.
        resumer = asyncio.create_task(
            _read(http, user, job.run_id, {"after": 0}, {"Last-Event-ID": "1"})
        )
        await asyncio.sleep(0.2)  # the resumer is replaying, then live
        await worker.emit(
            job,
            [
                text_delta("msg_r", "three"),
                ThreadItemDoneEvent(
                    item=answer_item(thread_id, "one two three", "msg_r")
                ),
            ],
        )
        await worker.finish(job, "completed")
        response, sse = await resumer
        await live.rest()
    assert response.status_code == 200
    assert response.headers["x-run-id"] == job.run_id
    assert response.headers["x-thread-id"] == thread_id
    events = events_of(sse.frames)
    assert [frame.id for frame in sse.frames] == ["2", "3", "4", "5"]
    assert [e.type for e in events] == ["thread.item.updated"] * 3 + [
        "thread.item.done"
    ]
    deltas = [e.update.delta for e in events if e.type == "thread.item.updated"]  # type: ignore[union-attr]
    assert "".join(deltas) == "one two three"


async def test_simple_resume_continues_the_text_without_repeating_it(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    async with http.stream(
        "POST", "/chatkit", json={"message": "hi"}, headers=auth_headers(user)
    ) as response:
        thread_id, run_id = (
            response.headers["x-thread-id"],
            response.headers["x-run-id"],
        )
        _, job = await worker.job_for(thread_id)
        await worker.begin(job)
        await worker.emit(
            job,
            [
                answer_started(thread_id, "msg_s"),
                text_delta("msg_s", "Hel"),
                text_delta("msg_s", "lo"),
                ThreadItemDoneEvent(item=answer_item(thread_id, "Hello", "msg_s")),
            ],
        )
        await worker.finish(job, "completed")
        await response.aread()
    resumed, sse = await _read(http, user, run_id, {"format": "simple", "after": 2})
    assert resumed.status_code == 200
    events, ended = validate_simple_frames(sse)
    assert ended
    assert json.loads(sse.frames[0].data) == {
        "type": "thread",
        "thread_id": thread_id,
        "run_id": run_id,
    }
    assert [(e.type, getattr(e, "content", None)) for e in events[1:]] == [
        ("text", "lo")
    ]
    assert [frame.id for frame in sse.frames] == [None, "3", "5"]


async def test_finished_run_replays_whole_and_a_client_that_has_it_all_gets_204(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    created = await turn(
        http,
        worker,
        user,
        create_body("all"),
        lambda t: [ThreadItemDoneEvent(item=answer_item(t, "done"))],
    )
    run_id = created.job.run_id
    whole, sse = await _read(http, user, run_id, {})
    assert whole.status_code == 200
    assert [e.type for e in events_of(sse.frames)] == ["thread.item.done"]
    assert [frame.id for frame in sse.frames] == ["1"]
    # The end as a data-less id, so an EventSource reconnects past it (204).
    assert whole.text.endswith("id: 2\n\n")
    for after in ("2", "9"):
        over, _ = await _read(http, user, run_id, {}, {"Last-Event-ID": after})
        assert over.status_code == 204


async def test_failed_run_whose_log_expired_still_ends_with_a_retryable_error(
    http: httpx.AsyncClient, worker: WorkerDouble, redis_url: str
) -> None:
    user = _user()
    created = await turn(http, worker, user, create_body("lost"), status="failed")
    run_id = created.job.run_id
    redis = Redis.from_url(redis_url)
    try:
        await redis.delete(run_log(run_id))
    finally:
        await redis.aclose()
    response, sse = await _read(http, user, run_id, {})
    assert response.status_code == 200
    [error] = events_of(sse.frames)
    assert isinstance(error, ErrorEvent)
    assert (error.code, error.allow_retry) == ("stream.error", True)


async def test_resume_of_another_users_run_is_404_and_a_bad_event_id_422(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    owner = _user()
    created = await turn(http, worker, owner, create_body("private"))
    run_id = created.job.run_id
    foreign, _ = await _read(http, _user(), run_id, {})
    assert foreign.status_code == 404
    bad, _ = await _read(http, owner, run_id, {}, {"Last-Event-ID": "abc"})
    assert bad.status_code == 422
    negative, _ = await _read(http, owner, run_id, {"after": -1})
    assert negative.status_code == 422
    unknown = await http.get(
        "/chatkit/runs/run_nope/events", headers=auth_headers(owner)
    )
    assert ErrorBody.model_validate_json(unknown.content).error == "not_found"
