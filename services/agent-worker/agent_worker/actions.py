"""The default app's widget-action handlers, for the task-list card (task_widget.py).

- `tasks.complete` (streaming, `threads.custom_action`): completes the task,
  replaces the card with a re-rendered one and says "Marked <title> as done.".
- `tasks.toggle` (sync, `threads.sync_custom_action`): flips the task's done
  flag and returns the re-rendered card (the worker persists it).

Any other action type is refused with "Unknown action <type>.".
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
)
from pydantic import BaseModel, ValidationError

from shared.history_api import TaskRecord, TaskUpdate
from shared.history_client import HistoryNotFound
from shared.ids import new_id
from shared.jobs import SyncActionReply

from .agent_app import AnyAction
from .task_widget import COMPLETE_ACTION, TOGGLE_ACTION, task_list_card, task_list_text
from .turn_context import TurnContext

GONE = "That task no longer exists."
NO_TASK_ID = "The action names no task."


class TaskActionPayload(BaseModel):
    """Payload of both task actions."""

    task_id: str


class ActionRefused(Exception):
    """The action cannot be done; the message is safe to show the user."""


def unknown_action(action: AnyAction) -> str:
    """What the user sees for an action type no handler knows."""
    return f"Unknown action {action.type}."


async def task_action(
    thread: ThreadMetadata,
    action: AnyAction,
    sender: WidgetItem | None,
    context: TurnContext,
) -> AsyncIterator[ThreadStreamEvent]:
    """Answer a streaming widget action of the task-list card."""
    if action.type != COMPLETE_ACTION:
        raise CustomStreamError(unknown_action(action), allow_retry=False)
    try:
        task = await _set_done(context, _task_id(action), done=True)
    except ActionRefused as refused:
        raise CustomStreamError(str(refused), allow_retry=False) from None
    if sender is not None:
        yield ThreadItemReplacedEvent(item=await rerendered(sender, context))
    message = AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread.id,
        created_at=datetime.now(UTC),
        content=[AssistantMessageContent(text=f"Marked {task.title} as done.")],
    )
    yield ThreadItemDoneEvent(item=message)


async def task_sync_action(
    thread: ThreadMetadata,  # noqa: ARG001 - the handler signature (agent_app.py)
    action: AnyAction,
    sender: WidgetItem | None,
    context: TurnContext,
) -> SyncActionReply:
    """Answer a sync widget action of the task-list card."""
    if action.type != TOGGLE_ACTION:
        return SyncActionReply(error=unknown_action(action))
    try:
        task_id = _task_id(action)
        task = await _find(context, task_id)
        await _set_done(context, task_id, done=not task.done)
    except ActionRefused as refused:
        return SyncActionReply(error=str(refused))
    if sender is None:
        return SyncActionReply()
    return SyncActionReply(updated_item=await rerendered(sender, context))


async def rerendered(sender: WidgetItem, context: TurnContext) -> WidgetItem:
    """The sender card showing the user's tasks as they are now."""
    tasks = (await context.history.list_tasks(context.user_id)).data
    return sender.model_copy(
        update={"widget": task_list_card(tasks), "copy_text": task_list_text(tasks)}
    )


def _task_id(action: AnyAction) -> str:
    try:
        return TaskActionPayload.model_validate(action.payload).task_id
    except ValidationError:
        raise ActionRefused(NO_TASK_ID) from None


async def _find(context: TurnContext, task_id: str) -> TaskRecord:
    tasks = (await context.history.list_tasks(context.user_id)).data
    for task in tasks:
        if task.id == task_id:
            return task
    raise ActionRefused(GONE)


async def _set_done(context: TurnContext, task_id: str, *, done: bool) -> TaskRecord:
    try:
        return await context.history.update_task(
            context.user_id, task_id, TaskUpdate(done=done)
        )
    except HistoryNotFound:
        raise ActionRefused(GONE) from None
