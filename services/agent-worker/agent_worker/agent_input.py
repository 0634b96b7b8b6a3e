"""Model input for a turn, built from the thread's stored items.

Not chatkit's default converter as a whole: assistant text goes in as a plain
string (the Agents SDK's Chat Completions converter rejects `output_text` parts
in input on later turns), and the server tool calls stored on an item become
`function_call` + `function_call_output` pairs so the model sees them again.
User messages carry their attachments as image/file parts (see
attachment_input.py). The kinds we have no reason to render differently
(client tool calls, widgets, structured inputs, tasks and workflows without
tool calls) go through `chatkit.agents.ThreadItemConverter`'s own methods.
"""

import json
from collections.abc import Sequence
from typing import assert_never

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    EndOfTurnItem,
    GeneratedImageItem,
    HiddenContextItem,
    SDKHiddenContextItem,
    StructuredInputItem,
    TaskItem,
    ThreadItem,
    UserMessageItem,
    WidgetItem,
    WorkflowItem,
)
from openai.types.responses import ResponseInputContentParam

from shared.history_api import ItemRecord, ToolCallRecord

from .attachment_input import AttachmentParts

QUOTE_PREFIX = "The user is referring to this in particular:\n"

_CONVERTER = ThreadItemConverter()

ConvertedInput = TResponseInputItem | list[TResponseInputItem] | None


async def build_agent_input(
    records: Sequence[ItemRecord], attachments: AttachmentParts | None = None
) -> list[TResponseInputItem]:
    """The Responses-format input items for the thread's items, oldest first.

    Without `attachments`, user messages go in without their attachments.
    """
    items: list[TResponseInputItem] = []
    last = len(records) - 1
    for index, record in enumerate(records):
        if record.tool_calls:
            items.extend(tool_call_pairs(record.tool_calls))
        else:
            is_last = index == last
            items.extend(await _item_input(record.item, attachments, is_last=is_last))
    return items


async def _item_input(
    item: ThreadItem, attachments: AttachmentParts | None, *, is_last: bool
) -> list[TResponseInputItem]:
    match item:
        case UserMessageItem():
            return await _user_message(item, attachments, with_quote=is_last)
        case AssistantMessageItem():
            text = "".join(part.text for part in item.content)
            return [{"role": "assistant", "content": text}] if text else []
        case HiddenContextItem() | SDKHiddenContextItem():
            return [{"role": "user", "content": _as_text(item.content)}]
        case ClientToolCallItem():
            # Pending calls are dropped; completed ones become call + output.
            return _listed(await _CONVERTER.client_tool_call_to_input(item))
        case WidgetItem():
            return _listed(await _CONVERTER.widget_to_input(item))
        case StructuredInputItem():
            return _listed(await _CONVERTER.structured_input_to_input(item))
        case TaskItem():
            return _listed(await _CONVERTER.task_to_input(item))
        case WorkflowItem():
            # Only workflows without stored tool calls get here: reasoning
            # (nothing to say) or tasks an app showed itself.
            return _listed(await _CONVERTER.workflow_to_input(item))
        case GeneratedImageItem() | EndOfTurnItem():
            return []
        case _:
            assert_never(item)


async def _user_message(
    item: UserMessageItem, attachments: AttachmentParts | None, *, with_quote: bool
) -> list[TResponseInputItem]:
    text = "".join(part.text for part in item.content)
    parts = (
        await attachments.parts(item.attachments)
        if attachments is not None and item.attachments
        else []
    )
    messages: list[TResponseInputItem] = [_user_content(text, parts)]
    if with_quote and item.quoted_text:
        messages.append({"role": "user", "content": QUOTE_PREFIX + item.quoted_text})
    return messages


def _user_content(
    text: str, parts: Sequence[ResponseInputContentParam]
) -> TResponseInputItem:
    if not parts:
        return {"role": "user", "content": text}
    content: list[ResponseInputContentParam] = []
    if text:
        content.append({"type": "input_text", "text": text})
    content.extend(parts)
    return {"role": "user", "content": content}


def tool_call_pairs(calls: Sequence[ToolCallRecord]) -> list[TResponseInputItem]:
    """All the calls of one step, then their outputs, as the model produced them."""
    items: list[TResponseInputItem] = [
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        }
        for call in calls
    ]
    items.extend(
        {"type": "function_call_output", "call_id": call.call_id, "output": call.output}
        for call in calls
    )
    return items


def _listed(converted: ConvertedInput) -> list[TResponseInputItem]:
    if converted is None:
        return []
    return converted if isinstance(converted, list) else [converted]


def _as_text(content: object) -> str:
    return content if isinstance(content, str) else json.dumps(content, default=str)
