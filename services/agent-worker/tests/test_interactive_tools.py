"""interactive_tools.py and show_tasks: turns that end waiting for the user, widgets.

Real history and Redis, a burst worker, the fake model; the gateway's part of
each op (completing a client tool call, answering a question) is done here the
way the gateway does it: the changed item is saved as the run opens.
"""

import json
import re
from typing import Any

from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    CustomTask,
    StructuredInputAnswer,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    UserMessageItem,
    WidgetItem,
    WorkflowItem,
)
from chatkit.widgets import Button, Card, Checkbox, StrictWidgetRoot
from pydantic import TypeAdapter

from shared.history_api import ItemRecord, TaskCreate
from shared.jobs import RespondOp
from testkit.fake_model import recorded_requests

from .harness import Conversation, Harness, call_ids_in

OWN_CALL_ITEM_ID = re.compile(r"^tc_[0-9a-f]{32}$")
STRICT_ROOT: TypeAdapter[Any] = TypeAdapter(StrictWidgetRoot)


async def _items(conversation: Conversation) -> list[ItemRecord]:
    page = await conversation.harness.history.list_items(
        conversation.user_id, conversation.thread_id, limit=100
    )
    return page.data


def _last_request_mentioning(fake_model: str, marker: str) -> dict[str, Any]:
    bodies = [
        r.body for r in recorded_requests(fake_model) if marker in json.dumps(r.body)
    ]
    return bodies[-1]


async def test_client_tool_turn_ends_with_a_pending_client_tool_call_stored(
    model_harness: Harness,
) -> None:
    conversation = model_harness.conversation()

    turn = await conversation.say("what is my timezone?")

    assert turn.run.status == "completed"
    (call,) = turn.done
    assert isinstance(call, ClientToolCallItem)
    assert (call.status, call.name, call.arguments) == (
        "pending",
        "get_user_timezone",
        {},
    )
    assert OWN_CALL_ITEM_ID.match(call.id)
    assert not any(b"__fake_id__" in raw for raw in turn.raw)
    assert all(event.tool is None for event in turn.events)
    user, stored = await _items(conversation)
    assert isinstance(user.item, UserMessageItem)
    assert stored.item == call
    assert stored.tool_calls == []


async def test_completed_client_tool_call_reaches_the_model_and_is_answered(
    model_harness: Harness, fake_model: str
) -> None:
    conversation = model_harness.conversation()
    first = await conversation.say(f"what is my timezone ({conversation.user_id})")
    (pending,) = first.done
    assert isinstance(pending, ClientToolCallItem)
    completed = pending.model_copy(
        update={"status": "completed", "output": "Europe/Paris"}
    )

    turn = await conversation.run(RespondOp(), save_items=[completed])

    (answer,) = turn.done
    assert isinstance(answer, AssistantMessageItem)
    assert answer.content[0].text == 'Tool said: "Europe/Paris"'
    calls, outputs = call_ids_in(
        _last_request_mentioning(fake_model, conversation.user_id)
    )
    assert pending.call_id in calls
    assert pending.call_id in outputs
    records = await _items(conversation)
    assert [r.item.type for r in records] == [
        "user_message",
        "client_tool_call",
        "assistant_message",
    ]
    assert records[1].item == completed


async def test_priority_question_leaves_a_pending_single_choice_input(
    fake_harness: Harness,
) -> None:
    conversation = fake_harness.conversation()

    turn = await conversation.say("set priority for buy milk")

    assert turn.run.status == "completed"
    (question,) = turn.done
    assert isinstance(question, StructuredInputItem)
    assert question.status == "pending"
    (choice,) = question.inputs
    assert isinstance(choice, StructuredInputMultipleChoice)
    assert choice.id == "priority"
    assert [option.value for option in choice.options] == ["low", "medium", "high"]
    assert choice.multiple is False
    assert "buy milk" in choice.question
    newest = (await _items(conversation))[-1]
    assert newest.item == question


async def test_answered_priority_question_is_seen_by_the_next_turn(
    fake_harness: Harness,
) -> None:
    conversation = fake_harness.conversation()
    (question,) = (await conversation.say("set priority for buy milk")).done
    assert isinstance(question, StructuredInputItem)
    answered = question.model_copy(deep=True)
    answered.status = "answered"
    answered.inputs[0].answer = StructuredInputAnswer(values=["high"])

    turn = await conversation.run(RespondOp(), save_items=[answered])

    (answer,) = turn.done
    assert isinstance(answer, AssistantMessageItem)
    text = answer.content[0].text
    assert text.startswith("Echo: A structured input request was displayed")
    assert "status: answered" in text
    assert ": high" in text


async def test_show_tasks_streams_the_task_card_and_stores_the_call(
    model_harness: Harness,
) -> None:
    conversation = model_harness.conversation()
    task = await model_harness.history.create_task(
        conversation.user_id, TaskCreate(title="buy milk")
    )

    turn = await conversation.say("show my tasks")

    assert turn.run.status == "completed"
    workflow, widget, answer = turn.done
    assert isinstance(workflow, WorkflowItem)
    assert isinstance(widget, WidgetItem)
    assert isinstance(answer, AssistantMessageItem)
    card = STRICT_ROOT.validate_python(widget.widget.model_dump())
    assert isinstance(card, Card)
    actions = _actions(card)
    assert ("tasks.complete", {"task_id": task.id}, True) in actions
    assert ("tasks.toggle", {"task_id": task.id}, False) in actions
    phases = [(e.tool.phase, e.tool.name) for e in turn.events if e.tool is not None]
    assert phases == [("call", "show_tasks"), ("result", "show_tasks")]
    stored = {r.item.id: r for r in await _items(conversation)}
    (call,) = stored[workflow.id].tool_calls
    assert call.name == "show_tasks"
    assert answer.content[0].text == f"Tool said: {call.output}"
    stored_workflow = stored[workflow.id].item
    assert isinstance(stored_workflow, WorkflowItem)
    (shown,) = stored_workflow.workflow.tasks
    assert isinstance(shown, CustomTask)
    assert shown.status_indicator == "complete"
    assert stored[widget.id].item == widget


def _actions(card: Card) -> list[tuple[str, Any, bool]]:
    """(type, payload, streaming) of every button and checkbox in the card."""
    found: list[tuple[str, Any, bool]] = []
    pending: list[Any] = list(card.children)
    while pending:
        node = pending.pop()
        pending.extend(getattr(node, "children", None) or [])
        action = None
        if isinstance(node, Button):
            action = node.onClickAction
        if isinstance(node, Checkbox):
            action = node.onChangeAction
        if action is not None:
            found.append((action.type, action.payload, action.streaming))
    return found
