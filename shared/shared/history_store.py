"""HistoryStore: ChatKit's ``Store`` over history's internal API (PostgreSQL).

Use it with the official ``ChatKitServer`` or the ``chatkit.agents`` helpers. The
request context is any object with a ``user_id`` attribute (a mapping with a
``"user_id"`` key works too); every call is scoped to that user.

Where it differs from the reference store of chatkit-python's tests, on purpose:

- ``load_threads`` and ``load_thread_items`` treat an unknown ``after`` cursor as
  the end of the list (an empty page) instead of raising: a cursor can vanish
  when its row is deleted between two page requests.
- ``add_thread_item`` and ``save_item`` raise ``NotFoundError`` when the thread is
  not the user's, instead of writing an item no thread owns.
- ``save_thread``, ``save_item`` and ``save_attachment`` raise ``HistoryConflict``
  for an id that another user (or another thread) owns, instead of overwriting it.
- ``load_attachment`` is scoped to the user as well.
- Pages are capped at 100 threads and 1000 items; a larger ``limit`` gets a full
  capped page with ``has_more`` and ``after`` set, so paging still works.
- Ids are ours: the ChatKit prefixes (``thr_``, ``msg_``, ...) with 128 random
  bits instead of 32.
- Threads and items come back exactly as saved (a naive ``created_at`` stays
  naive); for ordering, a naive ``created_at`` counts as UTC.
"""

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from typing_extensions import override

from shared.history_api import Order
from shared.history_client import HistoryClient
from shared.ids import IdPrefix, new_id

MAX_THREAD_PAGE = 100
MAX_ITEM_PAGE = 1000

ID_PREFIXES: dict[StoreItemType, IdPrefix] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "task": "tsk",
    "workflow": "wf",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}
"""Same prefixes as ``chatkit.store``'s default ids."""


class UserContext(Protocol):
    """What HistoryStore needs from a request context: whose data it is."""

    @property
    def user_id(self) -> str:
        """The user every store call is scoped to."""
        ...


def user_id_of(context: object) -> str:
    """The ``user_id`` of a request context (attribute or mapping key)."""
    if isinstance(context, Mapping):
        user_id = context.get("user_id")
    else:
        user_id = getattr(context, "user_id", None)
    if not isinstance(user_id, str) or not user_id:
        raise TypeError("HistoryStore needs a request context with a str user_id")
    return user_id


def _order(order: str) -> Order:
    if order == "asc":
        return "asc"
    if order == "desc":
        return "desc"
    raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")


def _clamp(limit: int, most: int) -> int:
    return max(1, min(limit, most))


class _LoopClients:
    """One HistoryClient per event loop, made on first use in that loop.

    An httpx client's pooled connections belong to the loop that opened them, so
    a store used from several loops in turn (a test suite with a loop per test,
    or ``asyncio.run`` called twice) needs a client per loop.
    """

    def __init__(self, base_url: str, internal_token: str) -> None:
        self._base_url = base_url
        self._internal_token = internal_token
        self._clients: dict[asyncio.AbstractEventLoop, HistoryClient] = {}

    def get(self) -> HistoryClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Clients of closed loops cannot be closed any more; let them go.
            # list() first: another thread's loop may add its client meanwhile.
            for old in list(self._clients):
                if old.is_closed():
                    self._clients.pop(old, None)
            client = HistoryClient(self._base_url, internal_token=self._internal_token)
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


class _OneClient:
    """A caller's own HistoryClient, used as is (the caller closes it)."""

    def __init__(self, client: HistoryClient) -> None:
        self._client = client

    def get(self) -> HistoryClient:
        return self._client

    async def aclose(self) -> None:
        return None


class HistoryStore(Store[Any]):
    """ChatKit ``Store`` backed by the history service; context needs ``user_id``."""

    _clients: _LoopClients | _OneClient

    def __init__(self, base_url: str, *, internal_token: str = "") -> None:
        self._clients = _LoopClients(base_url, internal_token)

    @classmethod
    def from_client(cls, client: HistoryClient) -> "HistoryStore":
        """A store over an existing client, which stays the caller's to close."""
        store = cls.__new__(cls)
        store._clients = _OneClient(client)
        return store

    def client(self) -> HistoryClient:
        """The HistoryClient for the running event loop."""
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the client of the running event loop (if this store made it)."""
        await self._clients.aclose()

    # ids

    @override
    def generate_thread_id(self, context: Any) -> str:
        """A fresh ``thr_`` id."""
        return new_id("thr")

    @override
    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: Any
    ) -> str:
        """A fresh id with ChatKit's prefix for ``item_type``."""
        return new_id(ID_PREFIXES[item_type])

    # threads

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        """The thread; ``NotFoundError`` if it is not the user's."""
        record = await self.client().get_thread(user_id_of(context), thread_id)
        return record.thread

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        """Create or overwrite the thread."""
        await self.client().save_thread(user_id_of(context), thread)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        """A page of the user's threads by creation time; ``after`` is exclusive."""
        page = await self.client().list_threads(
            user_id_of(context),
            limit=_clamp(limit, MAX_THREAD_PAGE),
            after=after,
            order=_order(order),
            sort="created_at",
        )
        return Page[ThreadMetadata](
            data=[record.thread for record in page.data],
            has_more=page.has_more,
            after=page.after,
        )

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        """Delete the thread with its items; nothing happens if it is not there."""
        await _ignore_missing(
            self.client().delete_thread(user_id_of(context), thread_id)
        )

    # items

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: Any,
    ) -> Page[ThreadItem]:
        """A page of the thread's items; empty if the thread is not the user's."""
        try:
            page = await self.client().list_items(
                user_id_of(context),
                thread_id,
                limit=_clamp(limit, MAX_ITEM_PAGE),
                after=after,
                order=_order(order),
            )
        except NotFoundError:
            return Page[ThreadItem](data=[])
        return Page[ThreadItem](
            data=[record.item for record in page.data],
            has_more=page.has_more,
            after=page.after,
        )

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: Any
    ) -> None:
        """Insert an item; ``HistoryConflict`` if its id exists."""
        await self.client().add_item(user_id_of(context), thread_id, item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Insert or overwrite an item by id."""
        await self.client().save_item(user_id_of(context), thread_id, item)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        """One item; ``NotFoundError`` if it is not in the user's thread."""
        record = await self.client().get_item(user_id_of(context), thread_id, item_id)
        item: ThreadItem = record.item
        return item

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: Any
    ) -> None:
        """Delete one item; nothing happens if it is not there."""
        await _ignore_missing(
            self.client().delete_item(user_id_of(context), thread_id, item_id)
        )

    # attachments

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        """Create or overwrite an attachment's metadata."""
        await self.client().save_attachment(user_id_of(context), attachment)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        """An attachment's metadata; ``NotFoundError`` if it is not the user's."""
        return await self.client().get_attachment(user_id_of(context), attachment_id)

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Delete an attachment's metadata; nothing happens if it is not there."""
        await _ignore_missing(
            self.client().delete_attachment(user_id_of(context), attachment_id)
        )


async def _ignore_missing(call: Coroutine[Any, Any, None]) -> None:
    # Deleting what is already gone succeeds, as in ChatKit's reference store
    # (retry_after_item may delete an item twice when two requests race).
    try:
        await call
    except NotFoundError:
        return
