"""chatkit.agents' stream events -> the events we publish: our ids, UTC times, tools.

`stream_agent_response` reuses the provider's message id for assistant messages:
OpenAI's `msg_...`, or `__fake_id__` for every message of every Chat Completions
or LiteLLM model (several in one turn). Each assistant message gets a fresh
`new_id("msg")` at `thread.item.added`, used for its updates and its done event.
A pending client tool call item carries the provider's function call item id
(`fc_...` or `__fake_id__` again): it gets a fresh `new_id("tc")`; its `call_id`
stays the model's, which the next turn's input pairs with the output.
chatkit stamps items with naive local time; we publish and store aware UTC.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from chatkit.types import (
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from shared.events import ToolActivity
from shared.ids import new_id

from .tool_activity import ToolActivityHooks


@dataclass(frozen=True)
class Outgoing:
    """One event to persist and/or publish, with its tool activity if any."""

    event: ThreadStreamEvent
    tool: ToolActivity | None = None


class Translator:
    """Rewrites one turn's events; keep one instance per turn."""

    def __init__(self, hooks: ToolActivityHooks | None = None) -> None:
        self._hooks = hooks
        self._live: dict[str, str] = {}
        """Provider id -> our id of the assistant message now streaming."""
        self._minted: dict[str, list[str]] = {}
        """Provider id -> every id we gave it this turn (for removals)."""

    def translate(self, event: ThreadStreamEvent) -> Iterator[Outgoing]:
        """The outgoing events for one incoming event (removals may fan out)."""
        tool = None
        shown = self._hooks.claim(event) if self._hooks is not None else None
        if shown is not None:
            event, tool = shown.event, shown.tool
        match event:
            case ThreadItemAddedEvent():
                yield Outgoing(
                    ThreadItemAddedEvent(item=self._item(event.item, "open")), tool
                )
            case ThreadItemDoneEvent():
                yield Outgoing(
                    ThreadItemDoneEvent(item=self._item(event.item, "close")), tool
                )
            case ThreadItemReplacedEvent():
                item = self._item(event.item, "keep")
                yield Outgoing(ThreadItemReplacedEvent(item=item), tool)
            case ThreadItemUpdatedEvent():
                item_id = self._live.get(event.item_id, event.item_id)
                updated = ThreadItemUpdatedEvent(item_id=item_id, update=event.update)
                yield Outgoing(updated, tool)
            case ThreadItemRemovedEvent():
                for item_id in self._minted.get(event.item_id, [event.item_id]):
                    yield Outgoing(ThreadItemRemovedEvent(item_id=item_id), tool)
            case _:
                yield Outgoing(event, tool)

    def _item(self, item: ThreadItem, phase: str) -> ThreadItem:
        update: dict[str, object] = {"created_at": as_utc(item.created_at)}
        if item.type == "assistant_message":
            update["id"] = self._own_id(item.id, phase)
        elif item.type == "client_tool_call" and phase != "keep":
            update["id"] = new_id("tc")
        # A copy: chatkit keeps mutating some items (workflows) after the event.
        return item.model_copy(update=update, deep=True)

    def _own_id(self, provider_id: str, phase: str) -> str:
        if phase == "open":
            return self._mint(provider_id)
        if phase == "close":
            return self._live.pop(provider_id, None) or self._mint(
                provider_id, live=False
            )
        known = self._live.get(provider_id) or self._minted.get(provider_id, [None])[-1]
        return known or self._mint(provider_id, live=False)

    def _mint(self, provider_id: str, *, live: bool = True) -> str:
        own = new_id("msg")
        self._minted.setdefault(provider_id, []).append(own)
        if live:
            self._live[provider_id] = own
        return own


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive time is read as this machine's local time (chatkit's)."""
    return moment.astimezone(UTC)
