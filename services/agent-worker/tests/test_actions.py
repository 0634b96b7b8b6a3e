"""actions.py: the task card's handlers change real tasks in history."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from chatkit.actions import Action
from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
)

from agent_worker.actions import task_action, task_sync_action
from agent_worker.task_widget import task_list_card
from agent_worker.turn_context import TurnContext
from shared.history_api import TaskCreate, TaskRecord
from shared.history_client import HistoryClient
from shared.ids import new_id


def _action(action_type: str, **payload: Any) -> Action[str, Any]:
    return Action[str, Any](type=action_type, payload=payload)


class Board:
    """A user with a thread, a task and the card that shows it."""

    def __init__(self, history: HistoryClient) -> None:
        self.history = history
        self.context = TurnContext(user_id=f"u-{uuid.uuid4().hex[:8]}", history=history)
        now = datetime.now(UTC)
        self.thread = ThreadMetadata(id=new_id("thr"), created_at=now)
        self.card = WidgetItem(
            id=new_id("msg"),
            thread_id=self.thread.id,
            created_at=now,
            widget=task_list_card([]),
        )

    async def add(self, title: str) -> TaskRecord:
        return await self.history.create_task(
            self.context.user_id, TaskCreate(title=title)
        )

    async def task(self, task_id: str) -> TaskRecord:
        tasks = (await self.history.list_tasks(self.context.user_id)).data
        (task,) = [t for t in tasks if t.id == task_id]
        return task

    async def act(self, action: Action[str, Any]) -> list[ThreadStreamEvent]:
        events = task_action(self.thread, action, self.card, self.context)
        return [event async for event in events]


@pytest.fixture
def board(history: HistoryClient) -> Board:
    return Board(history)


def _widget_json(item: WidgetItem) -> str:
    return item.widget.model_dump_json()


async def test_complete_action_completes_the_task_rerenders_the_card_and_says_so(
    board: Board,
) -> None:
    task = await board.add("water plants")

    replaced, said = await board.act(_action("tasks.complete", task_id=task.id))

    assert isinstance(replaced, ThreadItemReplacedEvent)
    assert isinstance(replaced.item, WidgetItem)
    assert replaced.item.id == board.card.id
    done = await board.task(task.id)
    assert done.done is True
    assert _widget_json(replaced.item) == task_list_card([done]).model_dump_json()
    assert isinstance(said, ThreadItemDoneEvent)
    assert isinstance(said.item, AssistantMessageItem)
    assert said.item.content[0].text == "Marked water plants as done."


async def test_unknown_streaming_action_is_refused_with_its_type_named(
    board: Board,
) -> None:
    with pytest.raises(CustomStreamError) as refused:
        await board.act(_action("tasks.frobnicate", task_id="x"))

    assert refused.value.message == "Unknown action tasks.frobnicate."
    assert refused.value.allow_retry is False


async def test_completing_a_task_that_is_gone_is_refused_without_events(
    board: Board,
) -> None:
    with pytest.raises(CustomStreamError) as refused:
        await board.act(_action("tasks.complete", task_id="task_nosuch"))

    assert refused.value.message == "That task no longer exists."


async def test_toggle_flips_the_task_and_returns_the_rerendered_card(
    board: Board,
) -> None:
    task = await board.add("call mom")
    toggle = _action("tasks.toggle", task_id=task.id)

    first = await task_sync_action(board.thread, toggle, board.card, board.context)
    after_first = await board.task(task.id)
    second = await task_sync_action(board.thread, toggle, board.card, board.context)
    after_second = await board.task(task.id)

    assert (after_first.done, after_second.done) == (True, False)
    assert first.error is None
    assert isinstance(first.updated_item, WidgetItem)
    assert first.updated_item.id == board.card.id
    assert (
        _widget_json(first.updated_item)
        == task_list_card([after_first]).model_dump_json()
    )
    assert isinstance(second.updated_item, WidgetItem)
    assert (
        _widget_json(second.updated_item)
        == task_list_card([after_second]).model_dump_json()
    )


async def test_unknown_sync_action_and_missing_task_id_come_back_as_errors(
    board: Board,
) -> None:
    unknown = await task_sync_action(
        board.thread, _action("tasks.nope"), board.card, board.context
    )
    no_id = await task_sync_action(
        board.thread, _action("tasks.toggle"), board.card, board.context
    )

    assert (unknown.error, unknown.updated_item) == ("Unknown action tasks.nope.", None)
    assert (no_id.error, no_id.updated_item) == ("The action names no task.", None)
