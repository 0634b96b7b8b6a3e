"""The scripted model's decisions depend on the request alone."""

import json

from testkit.model_script import (
    FailReply,
    TextReply,
    ToolCallReply,
    argument_name,
    chat_turn,
    decide,
    responses_turn,
    split_deltas,
)

COMPLETE_TASK = {
    "type": "function",
    "name": "complete_task",
    "parameters": {
        "type": "object",
        "properties": {"note": {"type": "string"}, "task": {"type": "string"}},
        "required": ["task"],
    },
}


def test_split_deltas_cuts_text_into_the_requested_number_of_pieces() -> None:
    pieces = split_deltas("Echo: hello (user turns: 1)", 20)
    assert len(pieces) == 20
    assert "".join(pieces) == "Echo: hello (user turns: 1)"


def test_split_deltas_never_yields_empty_pieces_for_short_text() -> None:
    assert split_deltas("ab", 20) == ["a", "b"]


def test_argument_name_prefers_an_id_parameter_for_id_values() -> None:
    schema = {"properties": {"task_ref": {}, "item_id": {}}, "required": ["task_ref"]}
    assert argument_name(schema, "task_id") == "item_id"


def test_argument_name_falls_back_to_first_required_parameter() -> None:
    assert argument_name(COMPLETE_TASK["parameters"], "task_id") == "task"  # type: ignore[arg-type]


def test_complete_task_uses_the_offered_tools_parameter_name() -> None:
    turn = responses_turn(
        {"input": "please complete task tsk_1", "tools": [COMPLETE_TASK]}
    )
    reply = decide(turn)
    assert isinstance(reply, ToolCallReply)
    assert json.loads(reply.arguments) == {"task": "tsk_1"}


def test_list_tasks_calls_without_arguments_on_chat_completions() -> None:
    tool = {"type": "function", "function": {"name": "list_tasks", "parameters": {}}}
    reply = decide(
        chat_turn(
            {"messages": [{"role": "user", "content": "list tasks"}], "tools": [tool]}
        )
    )
    assert reply == ToolCallReply("list_tasks", "{}")


def test_fail_marker_wins_over_commands() -> None:
    reply = decide(responses_turn({"input": "add task [fail]"}))
    assert isinstance(reply, FailReply)
    assert reply.status == 500


def test_user_turns_count_only_user_messages_in_responses_input() -> None:
    turn = responses_turn(
        {
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "one"}]},
                {
                    "type": "function_call",
                    "call_id": "c",
                    "name": "x",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "c", "output": "ok"},
                {"role": "assistant", "content": "Tool said: ok"},
                {"role": "user", "content": "two"},
            ]
        }
    )
    assert decide(turn) == TextReply("Echo: two (user turns: 2)")


def test_tool_output_as_content_parts_is_read_as_text() -> None:
    turn = responses_turn(
        {
            "input": [
                {"role": "user", "content": "add task x"},
                {
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": [{"type": "input_text", "text": "added x"}],
                },
            ]
        }
    )
    assert decide(turn) == TextReply("Tool said: added x")
