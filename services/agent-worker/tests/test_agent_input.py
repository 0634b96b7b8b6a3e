"""agent_input.py: stored items -> model input that both model APIs accept."""

from datetime import UTC, datetime
from typing import Literal

from agents.models.chatcmpl_converter import Converter
from chatkit.agents import simple_to_agent_input
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomTask,
    HiddenContextItem,
    InferenceOptions,
    StructuredInputAnswer,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThoughtTask,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)

from agent_worker.agent_input import build_agent_input
from agent_worker.task_widget import task_list_card
from shared.history_api import ItemRecord, ToolCallRecord

THREAD = "thr_input"
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def _user(text: str) -> ItemRecord:
    item = UserMessageItem(
        id=f"msg_u_{text}",
        thread_id=THREAD,
        created_at=NOW,
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )
    return ItemRecord(item=item)


def _assistant(text: str) -> ItemRecord:
    item = AssistantMessageItem(
        id=f"msg_a_{text}",
        thread_id=THREAD,
        created_at=NOW,
        content=[AssistantMessageContent(text=text)],
    )
    return ItemRecord(item=item)


def _tool_workflow(*calls: ToolCallRecord) -> ItemRecord:
    workflow = Workflow(
        type="custom", tasks=[CustomTask(title=call.name) for call in calls]
    )
    item = WorkflowItem(id="wf_1", thread_id=THREAD, created_at=NOW, workflow=workflow)
    return ItemRecord(item=item, tool_calls=list(calls))


ADD = ToolCallRecord(
    call_id="call_1", name="add_task", arguments='{"title":"milk"}', output='{"id":1}'
)
LIST = ToolCallRecord(call_id="call_2", name="list_tasks", arguments="{}", output="[]")


async def test_second_turn_input_holds_first_turn_tool_call_and_result() -> None:
    records = [
        _user("add task milk"),
        _tool_workflow(ADD),
        _assistant("Added."),
        _user("thanks"),
    ]

    assert await build_agent_input(records) == [
        {"role": "user", "content": "add task milk"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "add_task",
            "arguments": '{"title":"milk"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": '{"id":1}'},
        {"role": "assistant", "content": "Added."},
        {"role": "user", "content": "thanks"},
    ]


async def test_several_calls_of_a_workflow_become_calls_then_outputs_in_order() -> None:
    items = await build_agent_input([_tool_workflow(ADD, LIST)])

    assert [(i.get("type"), i.get("call_id")) for i in items] == [
        ("function_call", "call_1"),
        ("function_call", "call_2"),
        ("function_call_output", "call_1"),
        ("function_call_output", "call_2"),
    ]


async def test_hidden_context_becomes_user_text() -> None:
    hidden = HiddenContextItem(
        id="hc_1", thread_id=THREAD, created_at=NOW, content="the user cancelled"
    )

    assert await build_agent_input([ItemRecord(item=hidden)]) == [
        {"role": "user", "content": "the user cancelled"}
    ]


async def test_reasoning_workflow_adds_nothing() -> None:
    workflow = Workflow(type="reasoning", tasks=[ThoughtTask(content="hmm")])
    item = WorkflowItem(id="wf_r", thread_id=THREAD, created_at=NOW, workflow=workflow)

    assert await build_agent_input([ItemRecord(item=item)]) == []


async def test_workflow_without_tool_calls_is_told_as_chatkit_tells_it() -> None:
    record = _tool_workflow(ADD).model_copy(update={"tool_calls": []})

    assert await build_agent_input([record]) == await simple_to_agent_input(record.item)


async def test_chat_completions_converter_accepts_a_three_turn_input_with_tools() -> (
    None
):
    records = [
        _user("add task milk"),
        _tool_workflow(ADD),
        _assistant("Added."),
        _user("list tasks"),
        _tool_workflow(LIST),
        _assistant("Nothing left."),
        _user("bye"),
    ]

    messages = Converter.items_to_messages(await build_agent_input(records))

    roles = [message["role"] for message in messages]
    assert roles == ["user", "assistant", "tool", "assistant"] * 2 + ["user"]
    assert messages[3]["content"] == "Added."


def _client_call(
    status: Literal["pending", "completed"], output: object = None
) -> ItemRecord:
    item = ClientToolCallItem(
        id="tc_1",
        thread_id=THREAD,
        created_at=NOW,
        status=status,
        call_id="call_tz",
        name="get_user_timezone",
        arguments={},
        output=output,
    )
    return ItemRecord(item=item)


async def test_pending_client_tool_call_is_left_out() -> None:
    assert await build_agent_input([_client_call("pending")]) == []


async def test_completed_client_tool_call_becomes_call_and_json_output() -> None:
    items = await build_agent_input([_client_call("completed", "Europe/Paris")])

    assert items == [
        {
            "type": "function_call",
            "call_id": "call_tz",
            "name": "get_user_timezone",
            "arguments": "{}",
        },
        {
            "type": "function_call_output",
            "call_id": "call_tz",
            "output": '"Europe/Paris"',
        },
    ]


async def test_widgets_and_structured_inputs_are_told_as_chatkit_tells_them() -> None:
    widget = WidgetItem(
        id="msg_w", thread_id=THREAD, created_at=NOW, widget=task_list_card([])
    )
    question = StructuredInputItem(
        id="msg_q",
        thread_id=THREAD,
        created_at=NOW,
        status="answered",
        inputs=[
            StructuredInputMultipleChoice(
                id="priority",
                question="Which priority?",
                options=[StructuredInputMultipleChoiceOption(value="high")],
                answer=StructuredInputAnswer(values=["high"]),
            )
        ],
    )
    records = [ItemRecord(item=widget), ItemRecord(item=question)]

    assert await build_agent_input(records) == await simple_to_agent_input(
        [widget, question]
    )
