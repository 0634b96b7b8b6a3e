"""run_agent.py, CustomActionOp: the app's action handler, persisted and published."""

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chatkit.actions import Action
from chatkit.types import (
    AssistantMessageItem,
    ErrorEvent,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    WidgetItem,
)

from agent_worker.task_widget import task_list_card
from shared.events import RunEnded
from shared.history_api import TaskCreate
from shared.jobs import CustomActionOp

from .conftest import worker_settings
from .harness import Conversation, Harness, TurnResult

APP_MODULE_NAME = "custom_action_apps"
APP_MODULE = """
from datetime import UTC, datetime

from agents import Agent
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
)

from agent_worker.agent_app import AgentApp
from shared.ids import new_id

plain_agent = Agent(name="plain")


async def _half_then_boom(thread, action, sender, context):
    said = AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread.id,
        created_at=datetime.now(UTC),
        content=[AssistantMessageContent(text="working on it")],
    )
    yield ThreadItemDoneEvent(item=said)
    raise RuntimeError("handler exploded")


exploding_app = AgentApp(agent=Agent(name="exploding"), action=_half_then_boom)
"""

HarnessFor = Callable[[str], Awaitable[Harness]]


def _action(action_type: str, **payload: Any) -> Action[str, Any]:
    return Action[str, Any](type=action_type, payload=payload)


def _ended(turn: TurnResult, status: str) -> bool:
    return turn.messages[-1] == RunEnded(
        run_id=turn.run.id, seq=len(turn.messages), status=status
    )


async def _started(conversation: Conversation) -> None:
    """Open the thread with a first, ordinary turn."""
    turn = await conversation.say("hello")
    assert turn.run.status == "completed"


@pytest.fixture
def custom_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / f"{APP_MODULE_NAME}.py").write_text(APP_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop(APP_MODULE_NAME, None)


@pytest.fixture
async def harness_for(
    redis_url: str, history_url: str, worker_queue: str, custom_apps: None
) -> AsyncIterator[HarnessFor]:
    """Harnesses whose AGENT is an attribute of the custom app module."""
    made: list[Harness] = []

    async def make(attr: str) -> Harness:
        spec = f"{APP_MODULE_NAME}:{attr}"
        harness = Harness(
            worker_settings(redis_url, history_url, worker_queue, agent=spec)
        )
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.aclose()


async def test_complete_action_replaces_the_card_completes_the_task_and_says_so(
    fake_harness: Harness,
) -> None:
    conversation = fake_harness.conversation()
    history = fake_harness.history
    task = await history.create_task(conversation.user_id, TaskCreate(title="milk"))
    _, card, _ = (await conversation.say("show my tasks")).done
    assert isinstance(card, WidgetItem)

    turn = await conversation.run(
        CustomActionOp(
            item_id=card.id, action=_action("tasks.complete", task_id=task.id)
        )
    )

    replaced, said = (e.event for e in turn.events)
    assert isinstance(replaced, ThreadItemReplacedEvent)
    assert isinstance(replaced.item, WidgetItem)
    assert replaced.item.id == card.id
    assert isinstance(said, ThreadItemDoneEvent)
    message = said.item
    assert isinstance(message, AssistantMessageItem)
    assert message.content[0].text == "Marked milk as done."
    assert _ended(turn, "completed")
    assert turn.run.status == "completed"
    (done_task,) = (await history.list_tasks(conversation.user_id)).data
    assert done_task.done is True
    stored_card = await history.get_item(
        conversation.user_id, conversation.thread_id, card.id
    )
    assert stored_card.item == replaced.item
    assert replaced.item.widget == task_list_card([done_task])
    page = await history.list_items(conversation.user_id, conversation.thread_id)
    assert page.data[-1].item == message


async def test_unknown_action_type_ends_with_a_custom_error_event(
    fake_harness: Harness,
) -> None:
    conversation = fake_harness.conversation()
    await _started(conversation)

    turn = await conversation.run(CustomActionOp(action=_action("tasks.frobnicate")))

    assert [e.event for e in turn.events] == [
        ErrorEvent(
            code="custom", message="Unknown action tasks.frobnicate.", allow_retry=False
        )
    ]
    assert _ended(turn, "completed")


async def test_agent_without_action_handler_answers_with_an_error_and_completes(
    harness_for: HarnessFor,
) -> None:
    harness = await harness_for("plain_agent")
    conversation = harness.conversation()
    await _started(conversation)

    turn = await conversation.run(CustomActionOp(action=_action("tasks.complete")))

    assert [e.event for e in turn.events] == [
        ErrorEvent(
            code="custom",
            message="This agent has no action handler.",
            allow_retry=False,
        )
    ]
    assert _ended(turn, "completed")
    assert turn.run.status == "completed"


async def test_handler_failure_keeps_what_it_did_and_fails_the_run_generically(
    harness_for: HarnessFor,
) -> None:
    harness = await harness_for("exploding_app")
    conversation = harness.conversation()
    await _started(conversation)

    turn = await conversation.run(CustomActionOp(action=_action("anything")))

    (said,) = turn.done
    assert isinstance(said, AssistantMessageItem)
    assert turn.events[-1].event == ErrorEvent(code="stream.error", allow_retry=True)
    assert not any(b"exploded" in raw for raw in turn.raw)
    assert _ended(turn, "failed")
    assert (turn.run.status, turn.run.error) == ("failed", "RuntimeError")
    page = await harness.history.list_items(
        conversation.user_id, conversation.thread_id
    )
    assert page.data[-1].item == said
