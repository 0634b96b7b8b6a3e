"""task_widget.py: the task-list card, valid for chatkit, with the app's actions."""

from datetime import UTC, datetime
from typing import Any

from chatkit.widgets import Button, Card, Checkbox, Row, StrictWidgetRoot, Text
from pydantic import TypeAdapter

from agent_worker.task_widget import task_list_card, task_list_text
from shared.history_api import TaskRecord

STRICT_ROOT: TypeAdapter[Any] = TypeAdapter(StrictWidgetRoot)
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def _task(task_id: str, title: str, *, done: bool = False) -> TaskRecord:
    return TaskRecord(
        id=task_id, title=title, done=done, created_at=NOW, updated_at=NOW
    )


def _rows(card: Card) -> list[Row]:
    rows = [
        child
        for column in card.children
        for child in getattr(column, "children", None) or []
        if isinstance(child, Row)
    ]
    return rows


def test_open_task_row_has_a_streaming_complete_button_and_a_sync_toggle() -> None:
    widget = task_list_card([_task("task_1", "buy milk")])

    card = STRICT_ROOT.validate_python(widget.model_dump())
    assert isinstance(card, Card)
    (row,) = _rows(card)
    checkbox, _, button = row.children or []
    assert isinstance(checkbox, Checkbox)
    assert isinstance(button, Button)
    assert (checkbox.label, checkbox.defaultChecked) == ("buy milk", False)
    assert checkbox.onChangeAction is not None
    assert checkbox.onChangeAction.model_dump(
        include={"type", "payload", "streaming"}
    ) == {
        "type": "tasks.toggle",
        "payload": {"task_id": "task_1"},
        "streaming": False,
    }
    assert button.onClickAction is not None
    assert button.onClickAction.model_dump(
        include={"type", "payload", "streaming"}
    ) == {
        "type": "tasks.complete",
        "payload": {"task_id": "task_1"},
        "streaming": True,
    }


def test_done_task_row_is_checked_and_has_no_complete_button() -> None:
    widget = task_list_card([_task("task_2", "pay rent", done=True)])

    card = STRICT_ROOT.validate_python(widget.model_dump())
    (row,) = _rows(card)
    kinds = [child.type for child in row.children or []]
    assert kinds == ["Checkbox", "Spacer"]
    checkbox = (row.children or [])[0]
    assert isinstance(checkbox, Checkbox)
    assert checkbox.defaultChecked is True


def test_empty_list_says_so_in_the_card_and_its_copy_text() -> None:
    card = STRICT_ROOT.validate_python(task_list_card([]).model_dump())

    texts = [
        child.value
        for column in card.children
        for child in [column, *(getattr(column, "children", None) or [])]
        if isinstance(child, Text)
    ]
    assert "No tasks yet." in texts
    assert task_list_text([]) == "No tasks yet."


def test_copy_text_marks_done_tasks() -> None:
    tasks = [_task("t1", "open one"), _task("t2", "closed one", done=True)]

    assert task_list_text(tasks) == "[ ] open one\n[x] closed one"
