"""The worker's OpenAI client yields the same stream events as the stock client."""

from typing import Any, get_args

import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)

from agent_worker.openai_client import StreamEventDecodingClient, variants_by_type
from agent_worker.providers import choose_model
from agent_worker.settings import AgentWorkerSettings

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "add_task",
        "description": "Add a task.",
        "parameters": {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
        },
    }
]


def _worker_client(base_url: str) -> AsyncOpenAI:
    """The client the worker builds for an OpenAI-compatible model."""
    settings = AgentWorkerSettings(_env_file=None, openai_base_url=base_url)
    client = choose_model(settings).client
    assert isinstance(client, StreamEventDecodingClient)
    return client


async def _stream(client: AsyncOpenAI, text: str) -> list[ResponseStreamEvent]:
    stream = await client.responses.create(
        model="scripted", input=text, tools=TOOLS, stream=True
    )
    return [event async for event in stream]


@pytest.mark.parametrize("text", ["hello there", "add task buy milk"])
async def test_streamed_events_equal_the_stock_clients_events(
    fake_model: str, text: str
) -> None:
    ours = _worker_client(fake_model)
    stock = AsyncOpenAI(api_key="unused", base_url=fake_model)

    got, expected = await _stream(ours, text), await _stream(stock, text)

    assert [type(event) for event in got] == [type(event) for event in expected]
    ids = ("response", "item_id", "item", "sequence_number")
    assert [e.model_dump(exclude=set(ids)) for e in got] == [
        e.model_dump(exclude=set(ids)) for e in expected
    ]
    done = [e.item for e in got if e.type == "response.output_item.done"]
    kinds = {type(item) for item in done}
    assert kinds == {ResponseFunctionToolCall} or kinds == {ResponseOutputMessage}
    await ours.close()
    await stock.close()


async def test_streamed_chat_chunks_equal_the_stock_clients_chunks(
    fake_model: str,
) -> None:
    ours = _worker_client(fake_model)
    stock = AsyncOpenAI(api_key="unused", base_url=fake_model)
    messages: list[Any] = [{"role": "user", "content": "hello there"}]

    streams = [
        await client.chat.completions.create(
            model="scripted", messages=messages, stream=True
        )
        for client in (ours, stock)
    ]
    got, expected = [[chunk async for chunk in stream] for stream in streams]

    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in got)
    text = "".join(c.choices[0].delta.content or "" for c in got if c.choices)
    assert text.startswith("Echo: hello there")
    assert [c.model_dump(exclude={"id", "created"}) for c in got] == [
        c.model_dump(exclude={"id", "created"}) for c in expected
    ]
    await ours.close()
    await stock.close()


def test_every_stream_event_variant_is_found_by_its_type() -> None:
    variants = variants_by_type(ResponseStreamEvent)
    (union, *_) = get_args(ResponseStreamEvent)

    assert set(variants.values()) == set(get_args(union))
    assert variants["response.output_text.delta"] is ResponseTextDeltaEvent
