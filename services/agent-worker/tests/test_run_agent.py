"""run_agent.py: a burst worker on real Redis + history + the scripted model."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    CustomTask,
    ErrorEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    UserMessageItem,
    WorkflowItem,
)

from shared.events import RunEnded
from shared.history_api import ItemRecord, RunClaim, ToolCallRecord
from shared.redis_keys import run_events_channel
from testkit.fake_model import recorded_requests
from testkit.model_script import FAKE_SECRET

from .conftest import worker_settings
from .harness import Conversation, Harness, TurnResult, call_ids_in, next_payload

API_KEY = "sk-test-worker-key-0123456789"
OWN_ID = re.compile(r"^(msg|wf)_[0-9a-f]{32}$")

MODEL_SETUPS = {
    "responses": {"model": "fake-model", "model_api": "responses"},
    "chat_completions": {"model": "fake-model", "model_api": "chat_completions"},
    "litellm": {"model": "litellm/openai/fake-model"},
}


@pytest.fixture(params=list(MODEL_SETUPS))
async def harness(
    request: pytest.FixtureRequest,
    redis_url: str,
    history_url: str,
    worker_queue: str,
    fake_model: str,
) -> AsyncIterator[Harness]:
    settings = worker_settings(
        redis_url,
        history_url,
        worker_queue,
        openai_api_key=API_KEY,
        openai_base_url=fake_model,
        **MODEL_SETUPS[request.param],
    )
    harness = Harness(settings)
    yield harness
    await harness.aclose()


async def _items(conversation: Conversation) -> list[ItemRecord]:
    page = await conversation.harness.history.list_items(
        conversation.user_id, conversation.thread_id, limit=100
    )
    return page.data


def _requests_mentioning(fake_model: str, marker: str) -> list[dict[str, Any]]:
    return [
        r.body for r in recorded_requests(fake_model) if marker in json.dumps(r.body)
    ]


def _assert_turn_published_well(turn: TurnResult, tool: str) -> None:
    assert [m.seq for m in turn.messages] == list(range(1, len(turn.messages) + 1))
    assert turn.messages[-1] == RunEnded(
        run_id=turn.run.id, seq=len(turn.messages), status="completed"
    )
    assert not any(b"__fake_id__" in raw for raw in turn.raw)
    phases = [(e.tool.phase, e.tool.name) for e in turn.events if e.tool is not None]
    assert phases == [("call", tool), ("result", tool)]
    done = [
        e.event.item for e in turn.events if isinstance(e.event, ThreadItemDoneEvent)
    ]
    assert [item.type for item in done] == ["workflow", "assistant_message"]
    assert all(OWN_ID.match(item.id) for item in done)
    answer = done[-1]
    assert isinstance(answer, AssistantMessageItem)
    deltas = [
        e.event.update.delta
        for e in turn.events
        if isinstance(e.event, ThreadItemUpdatedEvent)
        and isinstance(e.event.update, AssistantMessageContentPartTextDelta)
        and e.event.item_id == answer.id
    ]
    assert "".join(deltas) == answer.content[0].text


def _assert_tool_turn_stored(records: list[ItemRecord], tool: str) -> ToolCallRecord:
    user, workflow, answer = records
    assert isinstance(user.item, UserMessageItem)
    assert isinstance(workflow.item, WorkflowItem)
    assert isinstance(answer.item, AssistantMessageItem)
    (call,) = workflow.tool_calls
    assert call.name == tool
    (task,) = workflow.item.workflow.tasks
    assert isinstance(task, CustomTask)
    assert (task.title, task.status_indicator) == (tool, "complete")
    assert answer.item.content[0].text == f"Tool said: {call.output}"
    return call


async def test_three_tool_turns_are_stored_and_each_sees_the_earlier_calls(
    harness: Harness, fake_model: str
) -> None:
    conversation = harness.conversation()
    marker = conversation.user_id
    prompts = [
        ("add task buy milk " + marker, "add_task"),
        ("list tasks", "list_tasks"),
        ("add task call mom", "add_task"),
    ]

    turns = [await conversation.say(text) for text, _ in prompts]

    records = await _items(conversation)
    assert len(records) == 9
    assert all(
        OWN_ID.match(r.item.id) for r in records if r.item.type != "user_message"
    )
    calls = [
        _assert_tool_turn_stored(records[i * 3 : i * 3 + 3], tool)
        for i, (_, tool) in enumerate(prompts)
    ]
    assert json.loads(calls[0].arguments) == {"title": "buy milk " + marker}
    assert "buy milk" in calls[1].output
    for turn, (_, tool) in zip(turns, prompts, strict=True):
        _assert_turn_published_well(turn, tool)
        assert (turn.run.status, turn.run.worker) == (
            "completed",
            harness.settings.worker_name,
        )
    last_request = _requests_mentioning(fake_model, marker)[-1]
    seen_calls, seen_outputs = call_ids_in(last_request)
    assert {c.call_id for c in calls} <= seen_calls
    assert {c.call_id for c in calls} <= seen_outputs
    record = await harness.history.get_thread(
        conversation.user_id, conversation.thread_id
    )
    assert record.thread.title == "Tasks"


async def test_model_failure_publishes_a_retryable_error_without_provider_text(
    harness: Harness, capfd: pytest.CaptureFixture[str]
) -> None:
    conversation = harness.conversation()

    turn = await conversation.say("please [fail] now")

    errors = [e.event for e in turn.events if isinstance(e.event, ErrorEvent)]
    assert errors == [ErrorEvent(code="stream.error", allow_retry=True)]
    assert turn.messages[-1] == RunEnded(
        run_id=turn.run.id, seq=len(turn.messages), status="failed"
    )
    for secret in (FAKE_SECRET.encode(), API_KEY.encode(), b"exploded"):
        assert not any(secret in raw for raw in turn.raw)
    assert turn.run.status == "failed"
    assert turn.run.error is not None
    assert re.fullmatch(r"[A-Za-z]+", turn.run.error)
    (kept,) = await _items(conversation)
    assert isinstance(kept.item, UserMessageItem)
    assert API_KEY not in capfd.readouterr().err


async def test_run_another_worker_claimed_is_skipped_without_publishing(
    harness: Harness,
) -> None:
    conversation = harness.conversation()
    conversation.turns = 1
    run = await harness.open_run(conversation, "already taken")
    other = RunClaim(worker="other-worker", lease_s=60)
    claimed = await harness.history.claim_run(conversation.user_id, run.id, other)

    async with harness.redis.pubsub() as pubsub:
        await pubsub.subscribe(run_events_channel(run.id))
        await harness.enqueue(conversation, run.id)
        await harness.run_burst_worker()
        published = await next_payload(pubsub, timeout_s=0.3)

    assert published is None
    assert await harness.history.get_run(conversation.user_id, run.id) == claimed.run
    assert [r.item.type for r in await _items(conversation)] == ["user_message"]
