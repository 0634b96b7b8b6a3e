"""Chat Completions answers of the scripted model, built from the openai types."""

import time
import uuid
from collections.abc import Iterator
from typing import Literal

from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.chat.chat_completion import Choice as CompletionChoice
from openai.types.chat.chat_completion_chunk import (
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import Function

from testkit.model_script import TextReply, ToolCallReply, split_deltas

Finish = Literal["stop", "tool_calls"]


def _usage(prompt_tokens: int, reply: TextReply | ToolCallReply) -> CompletionUsage:
    text = reply.text if isinstance(reply, TextReply) else reply.arguments
    completion_tokens = max(1, len(text) // 4)
    return CompletionUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


class _Chunks:
    """Chunk factory sharing one completion id, timestamp and model."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def delta(
        self, delta: ChoiceDelta, finish: Finish | None = None
    ) -> ChatCompletionChunk:
        """A chunk carrying one choice delta."""
        return ChatCompletionChunk(
            id=self.id,
            object="chat.completion.chunk",
            created=self.created,
            model=self.model,
            choices=[Choice(index=0, delta=delta, finish_reason=finish)],
        )

    def usage(self, usage: CompletionUsage) -> ChatCompletionChunk:
        """The closing chunk with token usage and no choices."""
        return ChatCompletionChunk(
            id=self.id,
            object="chat.completion.chunk",
            created=self.created,
            model=self.model,
            choices=[],
            usage=usage,
        )


def _text_chunks(
    chunks: _Chunks, reply: TextReply, deltas: int
) -> Iterator[ChatCompletionChunk]:
    yield chunks.delta(ChoiceDelta(role="assistant", content=""))
    for piece in split_deltas(reply.text, deltas):
        yield chunks.delta(ChoiceDelta(content=piece))
    yield chunks.delta(ChoiceDelta(), finish="stop")


def _tool_call_chunks(
    chunks: _Chunks, reply: ToolCallReply, call_id: str
) -> Iterator[ChatCompletionChunk]:
    opening = ChoiceDeltaToolCall(
        index=0,
        id=call_id,
        type="function",
        function=ChoiceDeltaToolCallFunction(name=reply.name, arguments=""),
    )
    yield chunks.delta(ChoiceDelta(role="assistant", tool_calls=[opening]))
    for piece in split_deltas(reply.arguments, 4):
        part = ChoiceDeltaToolCall(
            index=0, function=ChoiceDeltaToolCallFunction(arguments=piece)
        )
        yield chunks.delta(ChoiceDelta(tool_calls=[part]))
    yield chunks.delta(ChoiceDelta(), finish="tool_calls")


def completion_chunks(
    reply: TextReply | ToolCallReply,
    *,
    model: str,
    deltas: int,
    prompt_tokens: int,
    include_usage: bool,
) -> Iterator[ChatCompletionChunk]:
    """The chunks of one streamed completion (the caller adds ``[DONE]``)."""
    chunks = _Chunks(model)
    if isinstance(reply, TextReply):
        yield from _text_chunks(chunks, reply, deltas)
    else:
        yield from _tool_call_chunks(chunks, reply, f"call_{uuid.uuid4().hex[:24]}")
    if include_usage:
        yield chunks.usage(_usage(prompt_tokens, reply))


def completion(
    reply: TextReply | ToolCallReply, *, model: str, prompt_tokens: int
) -> ChatCompletion:
    """The non-streaming answer."""
    if isinstance(reply, TextReply):
        message = ChatCompletionMessage(role="assistant", content=reply.text)
        finish: Finish = "stop"
    else:
        call = ChatCompletionMessageFunctionToolCall(
            id=f"call_{uuid.uuid4().hex[:24]}",
            type="function",
            function=Function(name=reply.name, arguments=reply.arguments),
        )
        message = ChatCompletionMessage(
            role="assistant", content=None, tool_calls=[call]
        )
        finish = "tool_calls"
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        object="chat.completion",
        created=int(time.time()),
        model=model,
        choices=[CompletionChoice(index=0, message=message, finish_reason=finish)],
        usage=_usage(prompt_tokens, reply),
    )
