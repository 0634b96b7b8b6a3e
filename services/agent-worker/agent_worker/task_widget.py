"""The task-list card: one row per task, with the widget actions of the default app.

Each row holds a checkbox that toggles the task (`tasks.toggle`, answered by
`threads.sync_custom_action`: `streaming: false`) and, while the task is open,
a "Done" button (`tasks.complete`, a streaming `threads.custom_action`). Both
actions carry `{"task_id": <id>}`.

Built from plain data (chatkit deprecates constructing its named widget
classes in favour of templates, and a template of JSON text inside a JSON file
would be harder to read than this), then validated as `WidgetRoot`, exactly as
a stored widget item is read back: what a reload shows is what was streamed.
"""

from collections.abc import Sequence
from typing import Any

from chatkit.actions import ActionConfig
from chatkit.widgets import WidgetRoot
from pydantic import TypeAdapter

from shared.history_api import TaskRecord

COMPLETE_ACTION = "tasks.complete"
"""Streaming action: complete the task, re-render the card, say so."""
TOGGLE_ACTION = "tasks.toggle"
"""Sync action: flip the task's done flag and return the re-rendered card."""

TITLE = "Your tasks"
EMPTY_TEXT = "No tasks yet."

_WIDGET_ROOT: TypeAdapter[WidgetRoot] = TypeAdapter(WidgetRoot)


def task_list_card(tasks: Sequence[TaskRecord]) -> WidgetRoot:
    """The card listing `tasks`, oldest first."""
    rows: list[dict[str, Any]] = [_row(task) for task in tasks] or [
        {"type": "Text", "value": EMPTY_TEXT, "color": "secondary"}
    ]
    return _WIDGET_ROOT.validate_python(
        {
            "type": "Card",
            "size": "md",
            "children": [
                {"type": "Text", "value": TITLE, "weight": "semibold"},
                {"type": "Col", "gap": 2, "children": rows},
            ],
        }
    )


def task_list_text(tasks: Sequence[TaskRecord]) -> str:
    """The card as plain text (the widget item's `copy_text`)."""
    if not tasks:
        return EMPTY_TEXT
    return "\n".join(f"[{'x' if t.done else ' '}] {t.title}" for t in tasks)


def task_action(action_type: str, task_id: str, *, streaming: bool) -> dict[str, Any]:
    """A widget action about one task, as it is serialized into the card."""
    config = ActionConfig(
        type=action_type, payload={"task_id": task_id}, streaming=streaming
    )
    return config.model_dump()


def _row(task: TaskRecord) -> dict[str, Any]:
    children: list[dict[str, Any]] = [
        {
            "type": "Checkbox",
            "name": f"done.{task.id}",
            "label": task.title,
            "defaultChecked": task.done,
            "onChangeAction": task_action(TOGGLE_ACTION, task.id, streaming=False),
        },
        {"type": "Spacer"},
    ]
    if not task.done:
        children.append(
            {
                "type": "Button",
                "label": "Done",
                "size": "sm",
                "style": "secondary",
                "onClickAction": task_action(COMPLETE_ACTION, task.id, streaming=True),
            }
        )
    return {"type": "Row", "key": task.id, "align": "center", "children": children}
