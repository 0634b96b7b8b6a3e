"""The offline demo model: an Agents SDK Model that needs no key and no network.

It streams proper Responses events, so the worker's pipeline (translation, tool
activity, persistence, publishing) is exactly the one a real model goes through.
Every answer starts with "[offline demo model]".
"""

import re
import time
from collections.abc import AsyncIterator
from typing import Any

from agents import (
    Handoff,
    ModelResponse,
    ModelSettings,
    Tool,
    TResponseInputItem,
    Usage,
)
from agents.agent_output import AgentOutputSchemaBase
from agents.items import TResponseStreamEvent
from agents.models.interface import Model, ModelTracing
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from typing_extensions import override

from shared.ids import new_id

from .demo_script import DemoCall, DemoText, decide

MODEL_NAME = "offline-demo"
_WORDS = re.compile(r"\S+\s*|\s+")


class DemoModel(Model):
    """Scripted, offline stand-in for a model; clearly labelled in every answer."""

    @override
    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        **_: Any,
    ) -> ModelResponse:
        """The whole answer at once."""
        output = _output(decide(input, {tool.name for tool in tools}))
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    @override
    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        **_: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The answer as Responses stream events, text word by word."""
        output = _output(decide(input, {tool.name for tool in tools}))
        events = _Events()
        yield ResponseCreatedEvent(
            type="response.created", response=_response([]), sequence_number=0
        )
        for item in output:
            for event in events.for_item(item):
                yield event
        yield ResponseCompletedEvent(
            type="response.completed",
            response=_response(output),
            sequence_number=events.next_seq(),
        )


def _output(move: DemoCall | DemoText) -> list[ResponseOutputItem]:
    match move:
        case DemoText():
            return [_message(move.text, "completed")]
        case DemoCall():
            return [_call(move)]


def _message(text: str, status: str) -> ResponseOutputMessage:
    parts = [ResponseOutputText(type="output_text", text=text, annotations=[])]
    return ResponseOutputMessage.model_validate(
        {
            "id": "msg_demo",
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": parts if text else [],
        }
    )


def _call(call: DemoCall) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        type="function_call",
        id="fc_demo",
        call_id=new_id("tc"),
        name=call.name,
        arguments=call.arguments,
        status="completed",
    )


def _response(output: list[ResponseOutputItem]) -> Response:
    return Response(
        id="resp_demo",
        created_at=time.time(),
        model=MODEL_NAME,
        object="response",
        output=output,
        parallel_tool_calls=False,
        tool_choice="auto",
        tools=[],
    )


class _Events:
    """Builds one response's stream events with increasing sequence numbers."""

    def __init__(self) -> None:
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def for_item(self, item: ResponseOutputItem) -> list[TResponseStreamEvent]:
        if isinstance(item, ResponseFunctionToolCall):
            return self.call(item)
        if isinstance(item, ResponseOutputMessage):
            text = "".join(getattr(part, "text", "") for part in item.content)
            return self.message(text)
        return []

    def message(self, text: str) -> list[TResponseStreamEvent]:
        item_id = "msg_demo"
        empty = ResponseOutputText(type="output_text", text="", annotations=[])
        full = ResponseOutputText(type="output_text", text=text, annotations=[])
        common: dict[str, Any] = {"item_id": item_id, "output_index": 0}
        events: list[TResponseStreamEvent] = [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=_message("", "in_progress"),
                output_index=0,
                sequence_number=self.next_seq(),
            ),
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                content_index=0,
                part=empty,
                sequence_number=self.next_seq(),
                **common,
            ),
        ]
        events.extend(
            ResponseTextDeltaEvent(
                type="response.output_text.delta",
                content_index=0,
                delta=word,
                logprobs=[],
                sequence_number=self.next_seq(),
                **common,
            )
            for word in _WORDS.findall(text)
        )
        events += [
            ResponseTextDoneEvent(
                type="response.output_text.done",
                content_index=0,
                text=text,
                logprobs=[],
                sequence_number=self.next_seq(),
                **common,
            ),
            ResponseContentPartDoneEvent(
                type="response.content_part.done",
                content_index=0,
                part=full,
                sequence_number=self.next_seq(),
                **common,
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=_message(text, "completed"),
                output_index=0,
                sequence_number=self.next_seq(),
            ),
        ]
        return events

    def call(self, item: ResponseFunctionToolCall) -> list[TResponseStreamEvent]:
        return [
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item,
                output_index=0,
                sequence_number=self.next_seq(),
            ),
            ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                item_id=item.id or "fc_demo",
                output_index=0,
                delta=item.arguments,
                sequence_number=self.next_seq(),
            ),
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=0,
                sequence_number=self.next_seq(),
            ),
        ]
