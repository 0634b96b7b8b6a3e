"""The scripted model speaks both OpenAI APIs well enough for the real clients."""

import json
import time
from collections.abc import AsyncIterator

import openai
import pytest
from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
)
from agents.items import TResponseInputItem
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import (
    FunctionToolParam,
    ResponseCompletedEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)

from testkit.fake_model import (
    FakeModelConfig,
    FakeModelServer,
    clear_recorded_requests,
    recorded_requests,
)
from testkit.model_script import FAKE_SECRET, SLOW_PACE_S

ADD_TASK_PARAMETERS: dict[str, object] = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
}
CHAT_ADD_TASK: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "add_task", "parameters": ADD_TASK_PARAMETERS},
}
RESPONSES_ADD_TASK: FunctionToolParam = {
    "type": "function",
    "name": "add_task",
    "parameters": ADD_TASK_PARAMETERS,
    "strict": False,
}


@pytest.fixture
async def client(fake_model: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=fake_model, api_key="test", max_retries=0) as c:
        yield c


@function_tool
def add_task(title: str) -> str:
    """Add a task to the user's list."""
    return f"added {title}"


async def test_responses_stream_has_full_event_sequence_and_counts_user_turns(
    client: AsyncOpenAI,
) -> None:
    stream = await client.responses.create(
        model="fake",
        input=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "Echo: first"},
            {"role": "user", "content": "second"},
        ],
        stream=True,
    )
    events: list[ResponseStreamEvent] = [event async for event in stream]

    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert kinds.count("response.output_text.delta") == 20
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    assert text == "Echo: second (user turns: 2)"
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    assert completed.response.output_text == text
    assert completed.response.usage is not None


async def test_responses_stream_calls_offered_tool_with_title_argument(
    client: AsyncOpenAI,
) -> None:
    stream = await client.responses.create(
        model="fake",
        input="add task buy milk",
        tools=[RESPONSES_ADD_TASK],
        stream=True,
    )
    events = [event async for event in stream]

    done = [e for e in events if isinstance(e, ResponseFunctionCallArgumentsDoneEvent)]
    assert len(done) == 1
    assert json.loads(done[0].arguments) == {"title": "buy milk"}
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    call = completed.response.output[0]
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.name == "add_task"


async def test_chat_stream_streams_tool_call_deltas_then_usage(
    client: AsyncOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "add task buy milk"}],
        tools=[CHAT_ADD_TASK],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [call for delta in deltas for call in delta.tool_calls or []]
    assert calls[0].function is not None
    assert calls[0].function.name == "add_task"
    arguments = "".join(c.function.arguments or "" for c in calls if c.function)
    assert json.loads(arguments) == {"title": "buy milk"}
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None


async def test_chat_answers_tool_result_with_tool_said(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="fake",
        messages=[
            {"role": "user", "content": "add task x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add_task", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "added x"},
        ],
        stream=True,
    )
    text = "".join(
        [c.choices[0].delta.content or "" async for c in stream if c.choices]
    )
    assert text == "Tool said: added x"


async def test_tool_command_without_offered_tool_answers_plain_text(
    client: AsyncOpenAI,
) -> None:
    answer = await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "add task buy milk"}]
    )
    assert (
        answer.choices[0].message.content == "Echo: add task buy milk (user turns: 1)"
    )


async def test_fail_marker_answers_500_with_the_fake_secret(
    client: AsyncOpenAI,
) -> None:
    with pytest.raises(openai.InternalServerError) as failure:
        await client.responses.create(model="fake", input="please [fail]", stream=True)
    assert FAKE_SECRET in str(failure.value.body)


async def test_requests_are_recorded_and_cleared(fake_model: str) -> None:
    server = FakeModelServer(FakeModelConfig(deltas=3)).start()
    try:
        async with AsyncOpenAI(base_url=server.base_url, api_key="test") as c:
            await c.responses.create(model="fake", input="remember me")
        recorded = recorded_requests(server.base_url)
        assert [r.path for r in recorded] == ["/v1/responses"]
        assert recorded[0].body["input"] == "remember me"
        clear_recorded_requests(server.base_url)
        assert recorded_requests(server.base_url) == []
    finally:
        server.stop()


async def _two_turns(model: Model) -> tuple[str, str]:
    """Turn 1 calls add_task; turn 2 sees turn 1 in its input."""
    agent = Agent(name="tasks", instructions="Help.", model=model, tools=[add_task])
    first = Runner.run_streamed(agent, "add task buy milk")
    async for _ in first.stream_events():
        pass
    history: list[TResponseInputItem] = first.to_input_list()
    history.append({"role": "user", "content": "thanks"})
    second = Runner.run_streamed(agent, history)
    async for _ in second.stream_events():
        pass
    return str(first.final_output), str(second.final_output)


async def test_agents_sdk_responses_model_runs_a_tool_and_a_second_turn(
    client: AsyncOpenAI,
) -> None:
    first, second = await _two_turns(
        OpenAIResponsesModel(model="fake", openai_client=client)
    )
    assert first == "Tool said: added buy milk"
    assert second == "Echo: thanks (user turns: 2)"


async def test_agents_sdk_chat_completions_model_runs_a_tool_and_a_second_turn(
    client: AsyncOpenAI,
) -> None:
    first, second = await _two_turns(
        OpenAIChatCompletionsModel(model="fake", openai_client=client)
    )
    assert first == "Tool said: added buy milk"
    assert second == "Echo: thanks (user turns: 2)"


async def test_litellm_model_runs_a_tool_and_a_second_turn(fake_model: str) -> None:
    from agents.extensions.models.litellm_model import LitellmModel

    first, second = await _two_turns(
        LitellmModel("openai/fake", base_url=fake_model, api_key="test")
    )
    assert first == "Tool said: added buy milk"
    assert second == "Echo: thanks (user turns: 2)"


@function_tool
def get_user_timezone() -> str:
    """The user's timezone (answered by the browser in the real app)."""
    return "Europe/Paris"


@function_tool
def ask_priority(task_title: str) -> str:
    """Ask the user for the priority of a task."""
    return f"priority of {task_title}: high"


@function_tool
def show_tasks() -> str:
    """Show the user's tasks as a widget."""
    return "shown 2 tasks"


PNG_DATA_URL = "data:image/png;base64,iVBORw0KGgo="
PDF_DATA_URL = "data:application/pdf;base64,JVBERi0xLjQK"


def _models(client: AsyncOpenAI, fake_model: str) -> dict[str, Model]:
    from agents.extensions.models.litellm_model import LitellmModel

    return {
        "responses": OpenAIResponsesModel(model="fake", openai_client=client),
        "chat_completions": OpenAIChatCompletionsModel(
            model="fake", openai_client=client
        ),
        "litellm": LitellmModel("openai/fake", base_url=fake_model, api_key="test"),
    }


MODEL_PATHS = ["responses", "chat_completions", "litellm"]


@pytest.mark.parametrize("path", MODEL_PATHS)
@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What is my timezone?", "Tool said: Europe/Paris"),
        ("set priority for Buy milk", "Tool said: priority of Buy milk: high"),
        ("show my tasks", "Tool said: shown 2 tasks"),
    ],
)
async def test_agents_sdk_calls_the_new_tools_on_every_model_path(
    client: AsyncOpenAI, fake_model: str, path: str, prompt: str, expected: str
) -> None:
    agent = Agent(
        name="tasks",
        instructions="Help.",
        model=_models(client, fake_model)[path],
        tools=[get_user_timezone, ask_priority, show_tasks],
    )
    result = Runner.run_streamed(agent, prompt)
    async for _ in result.stream_events():
        pass
    assert result.final_output == expected


@pytest.mark.parametrize("path", MODEL_PATHS)
async def test_agents_sdk_image_and_file_parts_reach_the_model_on_every_path(
    client: AsyncOpenAI, fake_model: str, path: str
) -> None:
    agent = Agent(
        name="tasks", instructions="Help.", model=_models(client, fake_model)[path]
    )
    message: TResponseInputItem = {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "what are these?"},
            {"type": "input_image", "image_url": PNG_DATA_URL, "detail": "auto"},
            {"type": "input_file", "file_data": PDF_DATA_URL, "filename": "a.pdf"},
        ],
    }
    result = Runner.run_streamed(agent, [message])
    async for _ in result.stream_events():
        pass
    assert result.final_output == "I see 2 attachment(s)."


async def test_transcription_answers_the_size_of_the_uploaded_audio() -> None:
    server = FakeModelServer().start()
    try:
        async with AsyncOpenAI(base_url=server.base_url, api_key="test") as c:
            transcript = await c.audio.transcriptions.create(
                model="gpt-4o-mini-transcribe",
                file=("speech.webm", b"\x1a\x45\xdf\xa3" * 25, "audio/webm"),
            )
        assert transcript.text == "transcript of 100 bytes"
        [recorded] = recorded_requests(server.base_url)
        assert recorded.path == "/v1/audio/transcriptions"
        assert recorded.body == {
            "model": "gpt-4o-mini-transcribe",
            "filename": "speech.webm",
            "content_type": "audio/webm",
            "size": 100,
        }
    finally:
        server.stop()


async def test_slow_marker_spreads_the_stream_over_time(client: AsyncOpenAI) -> None:
    started = time.monotonic()
    stream = await client.responses.create(model="fake", input="hi [slow]", stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    assert time.monotonic() - started >= SLOW_PACE_S * len(events) * 0.9
