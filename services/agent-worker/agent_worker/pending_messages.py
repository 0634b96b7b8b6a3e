"""Assistant messages of a turn that are still streaming, as far as they got.

On cancel, chatkit's `ChatKitServer` stores each pending assistant message with
the text streamed so far (if any). The worker keeps the same view from the
events it emits: added, then content updates, until done, replaced or removed.
"""

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

ContentUpdate = (
    AssistantMessageContentPartAdded
    | AssistantMessageContentPartTextDelta
    | AssistantMessageContentPartAnnotationAdded
    | AssistantMessageContentPartDone
)


class PendingMessages:
    """The assistant messages added but not yet done, with their text so far."""

    def __init__(self) -> None:
        self._items: dict[str, AssistantMessageItem] = {}

    def track(self, event: ThreadStreamEvent) -> None:
        """Follow one emitted event."""
        match event:
            case ThreadItemAddedEvent(item=AssistantMessageItem() as item):
                self._items[item.id] = item.model_copy(deep=True)
            case ThreadItemUpdatedEvent(item_id=item_id, update=update):
                pending = self._items.get(item_id)
                if pending is not None and isinstance(update, ContentUpdate):
                    _apply(pending, update)
            case ThreadItemDoneEvent(item=item) | ThreadItemReplacedEvent(item=item):
                self._items.pop(item.id, None)
            case ThreadItemRemovedEvent(item_id=item_id):
                self._items.pop(item_id, None)
            case _:
                pass

    def worth_keeping(self) -> list[AssistantMessageItem]:
        """The pending messages with some non-blank text, oldest first."""
        return [
            item
            for item in self._items.values()
            if any(part.text.strip() for part in item.content)
        ]


def _apply(item: AssistantMessageItem, update: ContentUpdate) -> None:
    """Apply a content update as chatkit's server does for pending items."""
    while len(item.content) <= update.content_index:
        item.content.append(AssistantMessageContent(text="", annotations=[]))
    part = item.content[update.content_index]
    match update:
        case AssistantMessageContentPartAdded() | AssistantMessageContentPartDone():
            # A copy: later deltas must not change the event already sent.
            item.content[update.content_index] = update.content.model_copy(deep=True)
        case AssistantMessageContentPartTextDelta():
            part.text += update.delta
        case AssistantMessageContentPartAnnotationAdded():
            at = min(update.annotation_index, len(part.annotations))
            part.annotations.insert(at, update.annotation)
