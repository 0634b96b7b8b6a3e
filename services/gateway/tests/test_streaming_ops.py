"""The four follow-up streaming ops on real history and Redis; the test is the worker.

Each op is checked before anything is stored, stores its edits in the run's own
commit, starts with the SDK's opening frames and relays the worker's events.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
from chatkit.types import (
    ClientToolCallItem,
    ErrorEvent,
    LockedStatus,
    StreamOptionsEvent,
    StructuredInputAnswer,
    StructuredInputItem,
    ThreadItemReplacedEvent,
    UserMessageItem,
)

from shared.history_api import ErrorBody
from shared.ids import new_id
from shared.jobs import CustomActionOp, RespondOp
from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import THREAD_STREAM_EVENT
from testkit.tokens import auth_headers, jwt_for

from .flows import (
    add_body,
    answer_item,
    create_body,
    done,
    live_turn,
    new_thread,
    pending_tool_call,
    priority_question,
    task_widget,
    turn,
)
from .worker_double import WorkerDouble


def _user() -> str:
    return new_id("req")


async def _refused(
    http: httpx.AsyncClient, user: str, body: dict[str, Any]
) -> tuple[int, str]:
    response = await http.post("/chatkit", json=body, headers=auth_headers(user))
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, ErrorBody.model_validate_json(response.content).error


def _tool_output(thread_id: str, result: object) -> dict[str, Any]:
    params = {"thread_id": thread_id, "result": result}
    return {"type": "threads.add_client_tool_output", "params": params}


def _structured(thread_id: str, item_id: str, **submission: Any) -> dict[str, Any]:
    params = {"thread_id": thread_id, "item_id": item_id, "input": submission}
    return {"type": "threads.add_structured_input", "params": params}


def _retry(thread_id: str, item_id: str) -> dict[str, Any]:
    params = {"thread_id": thread_id, "item_id": item_id}
    return {"type": "threads.retry_after_item", "params": params}


def _action(thread_id: str, item_id: str | None, kind: str) -> dict[str, Any]:
    params = {"thread_id": thread_id, "item_id": item_id, "action": {"type": kind}}
    return {"type": "threads.custom_action", "params": params}


async def test_client_tool_output_completes_the_pending_call_and_continues(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(http, worker, user, done(pending_tool_call))
    [call] = [
        i for i in (await client.list_items(thread_id)).data if i.type != "user_message"
    ]

    result = {"timezone": "Europe/Paris"}
    answered = await turn(
        http, worker, user, _tool_output(thread_id, result),
        done(lambda t: answer_item(t, "Tool said: Europe/Paris")),
    )  # fmt: skip
    assert answered.types == ["stream_options", "thread.item.done"]
    assert isinstance(answered.events[0], StreamOptionsEvent)
    assert answered.job.op == RespondOp()
    items = (await client.list_items(thread_id)).data
    stored = next(i for i in items if i.id == call.id)
    assert isinstance(stored, ClientToolCallItem)
    assert (stored.status, stored.output) == ("completed", result)
    assert items[-1].type == "assistant_message"


async def test_client_tool_output_drops_older_dangling_pending_calls(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(
        http, worker, user, done(pending_tool_call, pending_tool_call)
    )
    dangling, newest = [
        i.id
        for i in (await client.list_items(thread_id)).data
        if i.type != "user_message"
    ]
    await turn(http, worker, user, _tool_output(thread_id, "ok"))
    calls = [
        i for i in (await client.list_items(thread_id)).data
        if isinstance(i, ClientToolCallItem)
    ]  # fmt: skip
    assert [(c.id, c.status) for c in calls] == [(newest, "completed")]
    assert dangling != newest


async def test_client_tool_output_without_a_pending_newest_call_is_409(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    # The pending call is not the newest item: the SDK refuses that too.
    thread_id = await new_thread(
        http, worker, user, done(pending_tool_call, lambda t: answer_item(t, "hm"))
    )
    assert await _refused(http, user, _tool_output(thread_id, 1)) == (
        409,
        "no_pending_client_tool_call",
    )
    assert await _refused(http, _user(), _tool_output(thread_id, 1)) == (
        404,
        "not_found",
    )


async def test_structured_input_answer_replaces_the_item_then_the_agent_goes_on(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(http, worker, user, done(priority_question))
    question = (await client.list_items(thread_id)).data[-1]
    answers = {"priority": {"values": ["high", "low"]}}

    answered = await turn(
        http, worker, user, _structured(thread_id, question.id, answers=answers),
        done(lambda t: answer_item(t, "Echo: high")),
    )  # fmt: skip
    assert answered.types == [
        "stream_options",
        "thread.item.replaced",
        "thread.item.done",
    ]
    replaced = answered.events[1]
    assert isinstance(replaced, ThreadItemReplacedEvent)
    assert isinstance(replaced.item, StructuredInputItem)
    assert replaced.item.id == question.id
    assert replaced.item.status == "answered"
    # A single choice keeps its first value, as the SDK does.
    assert replaced.item.inputs[0].answer == StructuredInputAnswer(values=["high"])
    stored = (await client.list_items(thread_id, order="asc")).data[1]
    assert stored == replaced.item

    again = _structured(thread_id, question.id, status="skipped")
    assert await _refused(http, user, again) == (409, "no_pending_structured_input")


async def test_structured_input_for_a_missing_or_foreign_item_is_404(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    thread_id = await new_thread(http, worker, user, done(priority_question))
    items = (await ChatKitClient(http, jwt_for(user)).list_items(thread_id)).data
    assert await _refused(http, user, _structured(thread_id, "msg_nope")) == (
        404,
        "not_found",
    )
    assert await _refused(http, _user(), _structured(thread_id, items[-1].id)) == (
        404,
        "not_found",
    )
    user_item = items[0]
    assert await _refused(http, user, _structured(thread_id, user_item.id)) == (
        409,
        "no_pending_structured_input",
    )


async def test_retry_after_a_user_message_drops_every_later_item_and_reruns(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(
        http, worker, user, done(lambda t: answer_item(t, "one")), text="first"
    )
    await turn(
        http, worker, user, add_body(thread_id, "second"),
        done(lambda t: answer_item(t, "two")),
    )  # fmt: skip
    first = (await client.list_items(thread_id, order="asc")).data[0]
    assert isinstance(first, UserMessageItem)

    retried = await turn(
        http, worker, user, _retry(thread_id, first.id),
        done(lambda t: answer_item(t, "one again")),
    )  # fmt: skip
    assert retried.types == ["stream_options", "thread.item.done"]
    assert retried.job.op == RespondOp()
    items = (await client.list_items(thread_id, order="asc")).data
    assert [i.id for i in items][:1] == [first.id]
    assert [i.type for i in items] == ["user_message", "assistant_message"]
    last = items[-1]
    assert last.type == "assistant_message"
    assert last.content[0].text == "one again"


async def test_retry_after_a_missing_or_non_user_item_is_refused_before_storage(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(
        http, worker, user, done(lambda t: answer_item(t, "one"))
    )
    answer = (await client.list_items(thread_id)).data[-1]
    assert answer.type == "assistant_message"
    assert await _refused(http, user, _retry(thread_id, answer.id)) == (
        422,
        "not_a_user_message",
    )
    assert await _refused(http, user, _retry(thread_id, "msg_gone")) == (
        404,
        "not_found",
    )
    assert len((await client.list_items(thread_id)).data) == 2


async def test_custom_action_on_a_widget_runs_the_action_op_in_the_worker(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(http, worker, user, done(task_widget))
    widget = (await client.list_items(thread_id)).data[-1]
    assert widget.type == "widget"

    acted = await turn(
        http, worker, user, _action(thread_id, widget.id, "tasks.complete"),
        done(lambda t: answer_item(t, "Marked Buy milk as done.")),
    )  # fmt: skip
    assert acted.types == ["stream_options", "thread.item.done"]
    op = acted.job.op
    assert isinstance(op, CustomActionOp)
    assert (op.item_id, op.action.type) == (widget.id, "tasks.complete")

    composer = await turn(http, worker, user, _action(thread_id, None, "refresh"))
    assert composer.types == ["stream_options"]
    assert composer.job.op == CustomActionOp(action={"type": "refresh"})


async def test_custom_action_from_a_non_widget_or_missing_item_is_a_4xx(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    thread_id = await new_thread(
        http, worker, user, done(lambda t: answer_item(t, "plain"))
    )
    items = (await ChatKitClient(http, jwt_for(user)).list_items(thread_id)).data
    for item_id, expected in [
        (items[-1].id, (422, "not_a_widget")),
        ("msg_gone", (404, "not_found")),
    ]:
        assert await _refused(http, user, _action(thread_id, item_id, "x")) == expected
    foreign = _action(thread_id, None, "x")
    assert await _refused(http, _user(), foreign) == (404, "not_found")


async def test_follow_up_op_on_a_busy_thread_is_one_error_event_and_stores_nothing(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    thread_id = await new_thread(http, worker, user, done(pending_tool_call))
    async with http.stream(
        "POST", "/chatkit", json=add_body(thread_id, "more"), headers=auth_headers(user)
    ) as response:
        assert response.status_code == 200
        # Refused by the run's commit, and by a pre-check that saw the new message.
        for body in (_action(thread_id, None, "x"), _tool_output(thread_id, "late")):
            busy = await client.stream(body)
            [error] = busy.events
            assert isinstance(error, ErrorEvent)
            assert (error.code, error.allow_retry) == ("custom", True)
        _, job = await worker.job_for(thread_id)
        await worker.run(job, [], "completed")
        await response.aread()
    call = next(
        i for i in (await client.list_items(thread_id)).data
        if isinstance(i, ClientToolCallItem)
    )  # fmt: skip
    assert call.status == "pending"


async def test_thread_shows_locked_while_its_run_is_active_then_active_again(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    async with http.stream(
        "POST", "/chatkit", json=create_body("slow one"), headers=auth_headers(user)
    ) as response:
        lines = response.aiter_lines()
        thread_id = await _created_thread_id(lines)
        thread = await client.get_thread(thread_id)
        assert isinstance(thread.status, LockedStatus)
        assert thread.status.reason
        listed = await client.list_threads(limit=1)
        assert listed.data[0].id == thread_id
        assert listed.data[0].status == thread.status
        _, job = await worker.job_for(thread_id)
        await worker.run(job, [], "completed")
        async for _ in lines:
            pass
    assert (await client.get_thread(thread_id)).status.type == "active"
    assert (await client.list_threads(limit=1)).data[0].status.type == "active"


async def _created_thread_id(lines: AsyncIterator[str]) -> str:
    first = await anext(lines)
    event = THREAD_STREAM_EVENT.validate_json(first.removeprefix("data: "))
    assert event.type == "thread.created"
    return event.thread.id


async def test_every_streaming_op_opens_its_run_with_its_kind(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = _user()
    client = ChatKitClient(http, jwt_for(user))
    created = await turn(http, worker, user, create_body("hi"), done(pending_tool_call))
    thread_id = created.job.thread_id
    tool = await turn(
        http, worker, user, _tool_output(thread_id, "x"), done(priority_question)
    )
    question = (await client.list_items(thread_id)).data[-1]
    answer = {"priority": {"values": ["low"]}}
    structured = await turn(
        http, worker, user, _structured(thread_id, question.id, answers=answer),
        done(task_widget),
    )  # fmt: skip
    widget = (await client.list_items(thread_id)).data[-1]
    action = await turn(http, worker, user, _action(thread_id, widget.id, "x"))
    first = (await client.list_items(thread_id, order="asc")).data[0]
    retried = await turn(http, worker, user, _retry(thread_id, first.id))
    added = await turn(http, worker, user, add_body(thread_id, "more"))
    body = {"message": "s", "thread_id": thread_id}
    async with live_turn(http, worker, user, body) as simple:
        await worker.run(simple.job, [], "completed")
        await simple.rest()
    runs = [
        (t.job.run_id, kind)
        for t, kind in [
            (created, "create"), (tool, "client_tool_output"),
            (structured, "structured_input"), (action, "custom_action"),
            (retried, "retry"), (added, "add_user_message"),
        ]
    ]  # fmt: skip
    runs.append((simple.job.run_id, "simple"))
    for run_id, kind in runs:
        assert (await worker.history.get_run(user, run_id)).kind == kind
