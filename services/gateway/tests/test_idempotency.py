"""Idempotency-Key: a retried streaming request re-attaches to the first run.

Nothing is stored or enqueued twice; the retry's stream starts with the
opening frames rebuilt from history, replays the run's log from its first
event and goes on live.
"""

from typing import Any

import httpx
from chatkit.types import (
    ClientToolCallItem,
    StreamOptionsEvent,
    StructuredInputItem,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    UserMessageItem,
)

from shared.history_api import ErrorBody
from shared.ids import new_id
from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import iter_frames, parse_sse, validate_simple_frames
from testkit.tokens import auth_headers, jwt_for

from .flows import (
    answer_item,
    answer_started,
    create_body,
    done,
    events_of,
    live_turn,
    new_thread,
    pending_tool_call,
    priority_question,
    text_delta,
)
from .worker_double import WorkerDouble

KEY = "Idempotency-Key"


def _user() -> str:
    return new_id("req")


async def _user_items(http: httpx.AsyncClient, user: str, thread_id: str) -> int:
    items = await ChatKitClient(http, jwt_for(user)).list_items(thread_id)
    return sum(isinstance(item, UserMessageItem) for item in items.data)


async def test_retried_create_reattaches_to_the_running_run_and_stores_nothing_twice(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user, key = _user(), new_id("req")
    headers = {**auth_headers(user), KEY: key}
    async with live_turn(http, worker, user, create_body("once"), {KEY: key}) as live:
        job, thread_id = live.job, live.job.thread_id
        first_opening = events_of([await anext(live.frames) for _ in range(3)])
        await worker.begin(job)
        await worker.emit(
            job, [answer_started(thread_id, "msg_i"), text_delta("msg_i", "so far")]
        )
        async with http.stream(
            "POST", "/chatkit", json=create_body("once"), headers=headers
        ) as retry:
            assert retry.headers["x-run-id"] == job.run_id
            assert retry.headers["x-thread-id"] == thread_id
            frames = iter_frames(retry)
            opening = events_of([await anext(frames) for _ in range(5)])
            await worker.emit(
                job,
                [ThreadItemDoneEvent(item=answer_item(thread_id, "so far", "msg_i"))],
            )
            await worker.finish(job, "completed")
            rest = events_of([frame async for frame in frames])
        await live.rest()
    created, user_done, options, added, delta = opening
    assert isinstance(created, ThreadCreatedEvent)
    assert created.thread.id == thread_id
    assert isinstance(user_done, ThreadItemDoneEvent)
    assert user_done.item == first_opening[1].item  # type: ignore[union-attr]
    assert isinstance(options, StreamOptionsEvent)
    assert (added.type, delta.type) == ("thread.item.added", "thread.item.updated")
    assert [e.type for e in rest] == ["thread.item.done"]
    assert await _user_items(http, user, thread_id) == 1
    assert await worker.queued_runs(thread_id) == []


async def test_retried_simple_message_after_the_run_ended_replays_it_whole(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user, key = _user(), new_id("req")
    headers = {**auth_headers(user), KEY: key}
    async with http.stream(
        "POST", "/chatkit", json={"message": "hello"}, headers=headers
    ) as response:
        thread_id, run_id = (
            response.headers["x-thread-id"],
            response.headers["x-run-id"],
        )
        _, job = await worker.job_for(thread_id)
        await worker.begin(job)
        await worker.emit(
            job, [answer_started(thread_id, "msg_j"), text_delta("msg_j", "Hi!")]
        )
        await worker.finish(job, "completed")
        first = validate_simple_frames(parse_sse((await response.aread()).decode()))
    retry = await http.post("/chatkit", json={"message": "hello"}, headers=headers)
    assert retry.headers["x-run-id"] == run_id
    sse = parse_sse(retry.text)
    again = validate_simple_frames(sse)
    assert again == first
    assert [frame.id for frame in sse.frames] == [None, "2", "3"]
    assert await _user_items(http, user, thread_id) == 1


async def test_an_overlong_idempotency_key_is_refused_before_anything_is_stored(
    http: httpx.AsyncClient,
) -> None:
    user = _user()
    response = await http.post(
        "/chatkit",
        json=create_body("x"),
        headers={**auth_headers(user), KEY: "k" * 201},
    )
    assert response.status_code == 422
    assert ErrorBody.model_validate_json(response.content).error == "invalid_request"
    listed = await ChatKitClient(http, jwt_for(user)).list_threads()
    assert listed.data == []


def _tool_output(thread_id: str, result: object) -> dict[str, Any]:
    params = {"thread_id": thread_id, "result": result}
    return {"type": "threads.add_client_tool_output", "params": params}


def _structured(thread_id: str, item_id: str) -> dict[str, Any]:
    submission = {"answers": {"priority": {"values": ["high"]}}}
    params = {"thread_id": thread_id, "item_id": item_id, "input": submission}
    return {"type": "threads.add_structured_input", "params": params}


async def test_retried_tool_output_after_the_first_succeeded_reattaches_to_its_run(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user, key = _user(), new_id("req")
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(http, worker, user, done(pending_tool_call))
    body = _tool_output(thread_id, {"timezone": "Europe/Paris"})
    async with live_turn(http, worker, user, body, {KEY: key}) as live:
        job = live.job
        await worker.run(
            job, done(lambda t: answer_item(t, "Paris"))(thread_id), "completed"
        )
        first = events_of(await live.rest())
    stored = (await client.list_items(thread_id)).data

    # The call is no longer pending: checked again, the retry would be a 409.
    retry = await http.post(
        "/chatkit", json=body, headers={**auth_headers(user), KEY: key}
    )

    assert retry.status_code == 200
    assert retry.headers["x-run-id"] == job.run_id
    again = events_of(parse_sse(retry.text).frames)
    assert [e.type for e in again] == ["stream_options", "thread.item.done"]
    assert again == first
    assert (await client.list_items(thread_id)).data == stored
    calls = [item for item in stored if isinstance(item, ClientToolCallItem)]
    assert [call.status for call in calls] == ["completed"]
    assert await worker.queued_runs(thread_id) == []
    run = await http.get(
        f"/chatkit/threads/{thread_id}/run", headers=auth_headers(user)
    )
    assert run.json()["run_id"] == job.run_id


async def test_retried_structured_input_reattaches_while_its_run_is_live(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user, key = _user(), new_id("req")
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(http, worker, user, done(priority_question))
    question = (await client.list_items(thread_id)).data[-1]
    body = _structured(thread_id, question.id)
    headers = {**auth_headers(user), KEY: key}
    async with live_turn(http, worker, user, body, {KEY: key}) as live:
        job = live.job
        answer_id = new_id("msg")  # item ids are global: never a fixed one
        await worker.begin(job)
        await worker.emit(job, [answer_started(thread_id, answer_id)])
        async with http.stream("POST", "/chatkit", json=body, headers=headers) as retry:
            assert retry.status_code == 200
            assert retry.headers["x-run-id"] == job.run_id
            frames = iter_frames(retry)
            opening = events_of([await anext(frames) for _ in range(2)])
            item = answer_item(thread_id, "high it is", answer_id)
            await worker.emit(job, [ThreadItemDoneEvent(item=item)])
            await worker.finish(job, "completed")
            rest = events_of([frame async for frame in frames])
        await live.rest()

    assert [e.type for e in opening] == ["stream_options", "thread.item.added"]
    assert [e.type for e in rest] == ["thread.item.done"]
    items = (await client.list_items(thread_id, order="asc")).data
    answered = [item for item in items if isinstance(item, StructuredInputItem)]
    assert [item.status for item in answered] == ["answered"]
    assert [item.type for item in items].count("assistant_message") == 1
    assert await worker.queued_runs(thread_id) == []


async def test_follow_up_op_with_a_new_key_after_the_first_succeeded_is_still_409(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user, key = _user(), new_id("req")
    thread_id = await new_thread(http, worker, user, done(pending_tool_call))
    body = _tool_output(thread_id, "ok")
    async with live_turn(http, worker, user, body, {KEY: key}) as live:
        await worker.run(live.job, [], "completed")
        await live.rest()

    other = await http.post(
        "/chatkit", json=body, headers={**auth_headers(user), KEY: new_id("req")}
    )

    assert other.status_code == 409
    error = ErrorBody.model_validate_json(other.content).error
    assert error == "no_pending_client_tool_call"
    assert await worker.queued_runs(thread_id) == []
