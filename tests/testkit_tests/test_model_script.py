"""The scripted model's decisions depend on the request alone."""

import json

from testkit.model_script import (
    MAX_PACE_S,
    FailReply,
    TextReply,
    ToolCallReply,
    argument_name,
    chat_turn,
    decide,
    responses_turn,
    slow_marker,
    slow_pace,
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


def _tool(name: str, properties: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "type": "function",
        "name": name,
        "parameters": {"type": "object", "properties": properties or {}},
    }


def test_timezone_question_calls_the_client_tool_without_arguments() -> None:
    turn = responses_turn(
        {"input": "What is my timezone?", "tools": [_tool("get_user_timezone")]}
    )
    assert decide(turn) == ToolCallReply("get_user_timezone", "{}")


def test_set_priority_calls_ask_priority_with_the_task_title() -> None:
    tool = _tool("ask_priority", {"task_title": {"type": "string"}})
    turn = responses_turn({"input": "set priority for Buy milk", "tools": [tool]})
    assert decide(turn) == ToolCallReply(
        "ask_priority", json.dumps({"task_title": "Buy milk"})
    )


def test_show_my_tasks_calls_show_tasks_only_when_offered() -> None:
    offered = responses_turn({"input": "show my tasks", "tools": [_tool("show_tasks")]})
    assert decide(offered) == ToolCallReply("show_tasks", "{}")
    assert decide(responses_turn({"input": "show my tasks"})) == TextReply(
        "Echo: show my tasks (user turns: 1)"
    )


def test_image_and_file_parts_of_the_last_user_message_are_counted() -> None:
    content = [
        {"type": "input_text", "text": "add task look at these"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
        {"type": "input_file", "file_data": "data:;base64,AA", "filename": "a.pdf"},
    ]
    turn = responses_turn(
        {"input": [{"role": "user", "content": content}], "tools": [_tool("add_task")]}
    )
    assert decide(turn) == TextReply("I see 2 attachment(s).")


def test_attachments_of_an_earlier_user_message_are_not_counted() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
    turn = chat_turn(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}, image]},
                {"role": "assistant", "content": "I see 1 attachment(s)."},
                {"role": "user", "content": "b"},
            ]
        }
    )
    assert decide(turn) == TextReply("Echo: b (user turns: 2)")


def test_a_tool_result_wins_over_attachments_of_the_last_user_message() -> None:
    file_part = {"type": "file", "file": {"file_data": "AA", "filename": "a.txt"}}
    turn = chat_turn(
        {
            "messages": [
                {"role": "user", "content": [file_part]},
                {"role": "tool", "tool_call_id": "c", "content": "Europe/Paris"},
            ]
        }
    )
    assert decide(turn) == TextReply("Tool said: Europe/Paris")


def test_slow_marker_answers_the_usual_echo_at_a_slow_pace() -> None:
    reply = decide(responses_turn({"input": "take your time [slow]"}))
    assert reply == TextReply("Echo: take your time [slow] (user turns: 1)", 0.1)


def test_slow_marker_with_seconds_paces_the_answer_that_many_seconds() -> None:
    text = f"a long one {slow_marker(0.25)}"
    reply = decide(responses_turn({"input": text}))
    assert reply == TextReply(f"Echo: {text} (user turns: 1)", 0.25)


def test_slow_marker_pace_is_capped() -> None:
    assert slow_pace("[slow:999]") == MAX_PACE_S
    assert slow_pace("no marker here") == 0.0
