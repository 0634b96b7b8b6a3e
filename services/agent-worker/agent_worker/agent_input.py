"""Model input for a turn, built from the thread's stored items.

Not chatkit's default converter: assistant text goes in as a plain string (the
Agents SDK's Chat Completions converter rejects `output_text` parts in input on
later turns), and the server tool calls stored on an item become
`function_call` + `function_call_output` pairs so the model sees them again.
"""

import json
from collections.abc import Sequence

from agents import TResponseInputItem
from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    HiddenContextItem,
    SDKHiddenContextItem,
    UserMessageItem,
)

from shared.history_api import ItemRecord, ToolCallRecord

QUOTE_PREFIX = "The user is referring to this in particular:\n"


def build_agent_input(records: Sequence[ItemRecord]) -> list[TResponseInputItem]:
    """The Responses-format input items for the thread's items, oldest first."""
    items: list[TResponseInputItem] = []
    last = len(records) - 1
    for index, record in enumerate(records):
        items.extend(_record_input(record, is_last=index == last))
    return items


def _record_input(record: ItemRecord, *, is_last: bool) -> list[TResponseInputItem]:
    if record.tool_calls:
        return tool_call_pairs(record.tool_calls)
    item = record.item
    if isinstance(item, UserMessageItem):
        return _user_message(item, with_quote=is_last)
    if isinstance(item, AssistantMessageItem):
        text = "".join(part.text for part in item.content)
        return [{"role": "assistant", "content": text}] if text else []
    if isinstance(item, HiddenContextItem | SDKHiddenContextItem):
        return [{"role": "user", "content": _as_text(item.content)}]
    if isinstance(item, ClientToolCallItem) and item.status == "completed":
        record_call = ToolCallRecord(
            call_id=item.call_id,
            name=item.name,
            arguments=json.dumps(item.arguments),
            output=_as_text(item.output),
        )
        return tool_call_pairs([record_call])
    # Widgets, images, reasoning workflows and end-of-turn markers carry
    # nothing the model needs to continue the conversation.
    return []


def _user_message(
    item: UserMessageItem, *, with_quote: bool
) -> list[TResponseInputItem]:
    text = "".join(part.text for part in item.content)
    messages: list[TResponseInputItem] = [{"role": "user", "content": text}]
    if with_quote and item.quoted_text:
        messages.append({"role": "user", "content": QUOTE_PREFIX + item.quoted_text})
    return messages


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


def _as_text(content: object) -> str:
    return content if isinstance(content, str) else json.dumps(content, default=str)
