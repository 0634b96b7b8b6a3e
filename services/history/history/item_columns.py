"""The seed columns of a message row (role, content), derived from a ChatKit item.

The full item is stored next to them; these columns exist for plain SQL readers.
"""

from typing import assert_never

import orjson
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


def role_of(item: ThreadItem) -> str:
    """``user``, ``assistant``, ``tool``, ``system``, or the item type for the rest."""
    match item:
        case UserMessageItem():
            return "user"
        case AssistantMessageItem():
            return "assistant"
        case WorkflowItem() | TaskItem() | ClientToolCallItem():
            return "tool"
        case HiddenContextItem() | SDKHiddenContextItem():
            return "system"
        case (
            WidgetItem()
            | GeneratedImageItem()
            | StructuredInputItem()
            | EndOfTurnItem()
        ):
            return item.type
        case _:
            assert_never(item)


def content_of(item: ThreadItem) -> str:
    """The item's plain text: message text joined, hidden context as text."""
    match item:
        case UserMessageItem():
            # Tags sit inline between text parts ("ask @Ann about it").
            return "".join(part.text for part in item.content)
        case AssistantMessageItem():
            return "\n\n".join(part.text for part in item.content)
        case SDKHiddenContextItem():
            return item.content
        case HiddenContextItem():
            if isinstance(item.content, str):
                return item.content
            return orjson.dumps(item.content, default=str).decode()
        case _:
            return ""
