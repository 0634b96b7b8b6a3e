"""MemoryStore: the chatkit ``Store`` kept in dicts, scoped to ``context.user_id``.

Like the in-memory stores of the SDK's docs and samples, with one addition the
samples leave as a TODO: every read checks the owner, so another user's thread,
item or attachment is a ``NotFoundError`` exactly like a missing one.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata


class UserContext(Protocol):
    """What the store needs of a request context."""

    @property
    def user_id(self) -> str:
        """The authenticated user."""
        ...


T = TypeVar("T", ThreadItem, ThreadMetadata)
C = TypeVar("C", bound=UserContext)


def _sort_key(value: datetime) -> datetime:
    # The SDK stamps naive local times, agent apps may stamp aware UTC ones.
    return value.astimezone(UTC)


def page_of(
    rows: Sequence[tuple[str, T]], after: str | None, limit: int, order: str
) -> Page[T]:
    """One page of ``(id, value)`` rows (oldest first) after the ``after`` id."""
    ordered = list(rows) if order == "asc" else list(reversed(rows))
    ids = [row_id for row_id, _ in ordered]
    start = ids.index(after) + 1 if after in ids else 0
    chosen = [value for _, value in ordered[start : start + limit]]
    more = len(ordered) > start + limit
    last = ordered[start + len(chosen) - 1][0] if chosen else None
    return Page(data=chosen, has_more=more, after=last if more else None)


@dataclass
class _Thread:
    owner: str
    meta: ThreadMetadata
    items: list[ThreadItem] = field(default_factory=list)

    def ordered_items(self) -> list[tuple[str, ThreadItem]]:
        """Items oldest first; equal timestamps keep insertion order."""
        items = sorted(self.items, key=lambda item: _sort_key(item.created_at))
        return [(item.id, item) for item in items]


class MemoryStore(Store[C], Generic[C]):
    """Threads, items and attachment records in memory, per user."""

    def __init__(self) -> None:
        self._threads: dict[str, _Thread] = {}
        self._attachments: dict[str, tuple[str, Attachment]] = {}

    def _thread(self, thread_id: str, context: C) -> _Thread:
        thread = self._threads.get(thread_id)
        if thread is None or thread.owner != context.user_id:
            raise NotFoundError(f"thread {thread_id} not found")
        return thread

    async def load_thread(self, thread_id: str, context: C) -> ThreadMetadata:
        """The thread's metadata; ``NotFoundError`` if missing or not the user's."""
        return self._thread(thread_id, context).meta.model_copy(deep=True)

    async def save_thread(self, thread: ThreadMetadata, context: C) -> None:
        """Create or overwrite a thread of the user."""
        meta = ThreadMetadata.model_validate(thread.model_dump())
        if thread.id in self._threads:
            self._thread(thread.id, context).meta = meta
        else:
            self._threads[thread.id] = _Thread(owner=context.user_id, meta=meta)

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: C,
    ) -> Page[ThreadItem]:
        """A page of the thread's items in ``order``, after the ``after`` id."""
        rows = self._thread(thread_id, context).ordered_items()
        page = page_of(rows, after, limit, order)
        page.data = [item.model_copy(deep=True) for item in page.data]
        return page

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: C
    ) -> Page[ThreadMetadata]:
        """A page of the user's threads by creation time."""
        mine = [t.meta for t in self._threads.values() if t.owner == context.user_id]
        mine.sort(key=lambda meta: _sort_key(meta.created_at))
        page = page_of([(meta.id, meta) for meta in mine], after, limit, order)
        page.data = [meta.model_copy(deep=True) for meta in page.data]
        return page

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: C
    ) -> None:
        """Append an item to the thread."""
        self._thread(thread_id, context).items.append(item.model_copy(deep=True))

    async def save_item(self, thread_id: str, item: ThreadItem, context: C) -> None:
        """Replace the item with the same id, or append it."""
        thread = self._thread(thread_id, context)
        copy = item.model_copy(deep=True)
        for index, existing in enumerate(thread.items):
            if existing.id == item.id:
                thread.items[index] = copy
                return
        thread.items.append(copy)

    async def load_item(self, thread_id: str, item_id: str, context: C) -> ThreadItem:
        """One item of the thread; ``NotFoundError`` if missing."""
        for item in self._thread(thread_id, context).items:
            if item.id == item_id:
                return item.model_copy(deep=True)
        raise NotFoundError(f"item {item_id} not found")

    async def delete_thread(self, thread_id: str, context: C) -> None:
        """Remove the thread and its items."""
        self._thread(thread_id, context)
        del self._threads[thread_id]

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: C
    ) -> None:
        """Remove one item (a missing one is ignored, as the SDK's stores do)."""
        thread = self._thread(thread_id, context)
        thread.items = [item for item in thread.items if item.id != item_id]

    async def save_attachment(self, attachment: Attachment, context: C) -> None:
        """Create or overwrite an attachment record of the user."""
        self.put_attachment(context.user_id, attachment)

    async def load_attachment(self, attachment_id: str, context: C) -> Attachment:
        """The user's attachment record; ``NotFoundError`` otherwise."""
        return self.attachment_of(context.user_id, attachment_id)

    async def delete_attachment(self, attachment_id: str, context: C) -> None:
        """Remove the user's attachment record."""
        self.attachment_of(context.user_id, attachment_id)
        del self._attachments[attachment_id]

    def put_attachment(self, user_id: str, attachment: Attachment) -> None:
        """Save an attachment record of ``user_id``."""
        owner, _ = self._attachments.get(attachment.id, (user_id, attachment))
        if owner != user_id:
            raise NotFoundError(f"attachment {attachment.id} not found")
        self._attachments[attachment.id] = (owner, attachment.model_copy(deep=True))

    def attachment_of(self, user_id: str, attachment_id: str) -> Attachment:
        """The attachment record if ``user_id`` owns it; ``NotFoundError`` otherwise."""
        owner, attachment = self._attachments.get(attachment_id, ("", None))
        if attachment is None or owner != user_id:
            raise NotFoundError(f"attachment {attachment_id} not found")
        return attachment.model_copy(deep=True)

    def attachment_owner(self, attachment_id: str) -> str | None:
        """Who owns an attachment record (for the token-guarded upload URL)."""
        owner, _ = self._attachments.get(attachment_id, ("", None))
        return owner or None
