"""Responses API answers of the scripted model, built from the openai package's types.

Building the events with the client's own pydantic models keeps their shape
exactly what the openai client and the Agents SDK parse.
"""

import time
import uuid
from collections.abc import Iterator

from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import (
    InputTokensDetails,
    OutputTokensDetails,
)

from testkit.model_script import TextReply, ToolCallReply, split_deltas


def _hex() -> str:
    return uuid.uuid4().hex


def _usage(input_tokens: int, output_tokens: int) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=input_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
        output_tokens=output_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        total_tokens=input_tokens + output_tokens,
    )


def _response(
    response_id: str,
    model: str,
    output: list[ResponseOutputItem],
    usage: ResponseUsage | None,
) -> Response:
    return Response(
        id=response_id,
        object="response",
        created_at=time.time(),
        model=model,
        output=output,
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        status="completed" if usage is not None else "in_progress",
        usage=usage,
    )


def _message(item_id: str, text: str, *, done: bool) -> ResponseOutputMessage:
    content = [ResponseOutputText(type="output_text", text=text, annotations=[])]
    return ResponseOutputMessage(
        id=item_id,
        type="message",
        role="assistant",
        status="completed" if done else "in_progress",
        content=content if done else [],
    )


def _text_events(reply: TextReply, deltas: int) -> Iterator[ResponseStreamEvent]:
    """Events of one text message, from item added to item done."""
    item_id = f"msg_{_hex()}"
    empty = ResponseOutputText(type="output_text", text="", annotations=[])
    full = ResponseOutputText(type="output_text", text=reply.text, annotations=[])
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield ResponseOutputItemAddedEvent(
        type="response.output_item.added",
        item=_message(item_id, "", done=False),
        output_index=0,
        sequence_number=0,
    )
    yield ResponseContentPartAddedEvent(
        type="response.content_part.added", part=empty, sequence_number=0, **where
    )
    for piece in split_deltas(reply.text, deltas):
        yield ResponseTextDeltaEvent(
            type="response.output_text.delta",
            delta=piece,
            logprobs=[],
            sequence_number=0,
            **where,
        )
    yield ResponseTextDoneEvent(
        type="response.output_text.done",
        text=reply.text,
        logprobs=[],
        sequence_number=0,
        **where,
    )
    yield ResponseContentPartDoneEvent(
        type="response.content_part.done", part=full, sequence_number=0, **where
    )
    yield ResponseOutputItemDoneEvent(
        type="response.output_item.done",
        item=_message(item_id, reply.text, done=True),
        output_index=0,
        sequence_number=0,
    )


def _call(
    reply: ToolCallReply, item_id: str, call_id: str, arguments: str, *, done: bool
) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=item_id,
        call_id=call_id,
        type="function_call",
        name=reply.name,
        arguments=arguments,
        status="completed" if done else "in_progress",
    )


def _tool_call_events(
    reply: ToolCallReply, deltas: int
) -> Iterator[ResponseStreamEvent]:
    """Events of one function call, from item added to item done."""
    item_id, call_id = f"fc_{_hex()}", f"call_{_hex()[:24]}"
    yield ResponseOutputItemAddedEvent(
        type="response.output_item.added",
        item=_call(reply, item_id, call_id, "", done=False),
        output_index=0,
        sequence_number=0,
    )
    for piece in split_deltas(reply.arguments, min(deltas, 4)):
        yield ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta",
            delta=piece,
            item_id=item_id,
            output_index=0,
            sequence_number=0,
        )
    yield ResponseFunctionCallArgumentsDoneEvent(
        type="response.function_call_arguments.done",
        arguments=reply.arguments,
        item_id=item_id,
        output_index=0,
        sequence_number=0,
    )
    yield ResponseOutputItemDoneEvent(
        type="response.output_item.done",
        item=_call(reply, item_id, call_id, reply.arguments, done=True),
        output_index=0,
        sequence_number=0,
    )


def response_events(
    reply: TextReply | ToolCallReply, *, model: str, deltas: int, input_tokens: int
) -> Iterator[ResponseStreamEvent]:
    """The full event sequence of one streamed response, numbered from 0."""
    response_id = f"resp_{_hex()}"
    body = (
        _text_events(reply, deltas)
        if isinstance(reply, TextReply)
        else _tool_call_events(reply, deltas)
    )
    start = _response(response_id, model, [], None)
    events: list[ResponseStreamEvent] = [
        ResponseCreatedEvent(
            type="response.created", response=start, sequence_number=0
        ),
        ResponseInProgressEvent(
            type="response.in_progress", response=start, sequence_number=0
        ),
        *body,
    ]
    output = [e.item for e in events if isinstance(e, ResponseOutputItemDoneEvent)]
    usage = _usage(input_tokens, output_tokens=max(1, len(_reply_text(reply)) // 4))
    events.append(
        ResponseCompletedEvent(
            type="response.completed",
            response=_response(response_id, model, output, usage),
            sequence_number=0,
        )
    )
    for number, event in enumerate(events):
        event.sequence_number = number
        yield event


def final_response(
    reply: TextReply | ToolCallReply, *, model: str, input_tokens: int
) -> Response:
    """The non-streaming answer: the completed response of the same sequence."""
    *_, last = response_events(reply, model=model, deltas=1, input_tokens=input_tokens)
    assert isinstance(last, ResponseCompletedEvent)
    return last.response


def _reply_text(reply: TextReply | ToolCallReply) -> str:
    return reply.text if isinstance(reply, TextReply) else reply.arguments
