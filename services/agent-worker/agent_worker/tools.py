"""The default agent's tools: the user's task list, stored by history.

Results are short JSON text the model can quote; an unknown task id or a refused
change comes back as a clear tool result instead of an exception. `show_tasks`
also shows the list as a card (task_widget.py) whose buttons the app's action
handlers answer (actions.py).
"""

import json

from agents import FunctionTool, RunContextWrapper, function_tool

from shared.history_api import TaskCreate, TaskRecord, TaskUpdate
from shared.history_client import HistoryError, HistoryNotFound

from .interactive_tools import ask_priority, get_user_timezone
from .task_widget import task_list_card, task_list_text
from .turn_context import TurnAgentContext

Ctx = RunContextWrapper[TurnAgentContext]


def _task_json(task: TaskRecord) -> dict[str, object]:
    view: dict[str, object] = {"id": task.id, "title": task.title, "done": task.done}
    if task.notes:
        view["notes"] = task.notes
    return view


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _not_found(task_id: str) -> str:
    return _dump({"error": f"no task with id {task_id!r}; call list_tasks for ids"})


def _refused(error: HistoryError) -> str:
    return _dump({"error": f"the change was refused (status {error.status})"})


@function_tool
async def add_task(ctx: Ctx, title: str, notes: str = "") -> str:
    """Add a task to the user's task list.

    Args:
        title: Short title of the task.
        notes: Optional longer notes.
    """
    turn = ctx.context.request_context
    try:
        task = await turn.history.create_task(
            turn.user_id, TaskCreate(title=title, notes=notes)
        )
    except ValueError as error:
        return _dump({"error": f"invalid task: {error.__class__.__name__}"})
    except HistoryError as error:
        return _refused(error)
    return _dump({"added": _task_json(task)})


@function_tool
async def list_tasks(ctx: Ctx, include_done: bool = False) -> str:
    """List the user's tasks, oldest first.

    Args:
        include_done: Also list tasks that are already completed.
    """
    turn = ctx.context.request_context
    tasks = (await turn.history.list_tasks(turn.user_id)).data
    shown = [_task_json(task) for task in tasks if include_done or not task.done]
    return _dump({"tasks": shown})


async def _update(ctx: Ctx, task_id: str, update: TaskUpdate, verb: str) -> str:
    turn = ctx.context.request_context
    try:
        task = await turn.history.update_task(turn.user_id, task_id, update)
    except HistoryNotFound:
        return _not_found(task_id)
    except HistoryError as error:
        return _refused(error)
    return _dump({verb: _task_json(task)})


@function_tool
async def complete_task(ctx: Ctx, task_id: str) -> str:
    """Mark a task as done.

    Args:
        task_id: Id of the task, as returned by list_tasks or add_task.
    """
    return await _update(ctx, task_id, TaskUpdate(done=True), "completed")


@function_tool
async def update_task(
    ctx: Ctx, task_id: str, title: str | None = None, notes: str | None = None
) -> str:
    """Change the title and/or notes of a task.

    Args:
        task_id: Id of the task, as returned by list_tasks or add_task.
        title: New title, or null to keep it.
        notes: New notes, or null to keep them.
    """
    try:
        update = TaskUpdate(title=title, notes=notes)
    except ValueError as error:
        return _dump({"error": f"invalid change: {error.__class__.__name__}"})
    return await _update(ctx, task_id, update, "updated")


@function_tool
async def delete_task(ctx: Ctx, task_id: str) -> str:
    """Delete a task from the user's task list.

    Args:
        task_id: Id of the task, as returned by list_tasks or add_task.
    """
    turn = ctx.context.request_context
    try:
        await turn.history.delete_task(turn.user_id, task_id)
    except HistoryNotFound:
        return _not_found(task_id)
    return _dump({"deleted": task_id})


@function_tool
async def show_tasks(ctx: Ctx) -> str:
    """Show the user's task list as a card with buttons to complete tasks."""
    turn = ctx.context.request_context
    tasks = (await turn.history.list_tasks(turn.user_id)).data
    await ctx.context.stream_widget(
        task_list_card(tasks), copy_text=task_list_text(tasks)
    )
    return _dump({"shown": len(tasks), "open": sum(not t.done for t in tasks)})


TASK_TOOLS: list[FunctionTool] = [
    add_task,
    list_tasks,
    complete_task,
    update_task,
    delete_task,
    show_tasks,
    ask_priority,
    get_user_timezone,
]
"""The default agent's tools, in the order the model sees them.

`ask_priority` and `get_user_timezone` need an agent that stops at them
(interactive_tools.TURN_ENDING_TOOLS)."""
