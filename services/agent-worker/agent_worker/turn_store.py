"""The chatkit Store handed to AgentContext for one turn: HistoryStore, plus two twists.

- `chatkit.agents.stream_agent_response` first reads the thread's newest items;
  the turn has just loaded them all, so that first read is answered from memory
  instead of another request to history on the way to the first token.
- When a turn ends with a workflow still open (a turn that ends right after a
  tool call), chatkit writes it with `add_thread_item` directly instead of
  emitting `thread.item.done`. Such items are held so that `run_agent` announces
  and persists them like every other done item (with their tool calls), before
  the next event: a workflow stays ahead of the client tool call ending the turn.
"""

from collections.abc import Sequence
from typing import Any

from chatkit.types import Page, ThreadItem
from typing_extensions import override

from shared.history_client import HistoryClient
from shared.history_store import HistoryStore


class TurnStore(HistoryStore):
    """HistoryStore with a one-shot preloaded read and held direct inserts."""

    held_items: list[ThreadItem]
    """Items added directly during the turn, in order; not yet persisted."""
    _preloaded: tuple[str, list[ThreadItem]] | None

    @classmethod
    def for_turn(cls, client: HistoryClient) -> "TurnStore":
        """A store over the worker's shared client, with nothing held."""
        store = cls.from_client(client)
        assert isinstance(store, TurnStore)
        store.held_items = []
        store._preloaded = None
        return store

    def preload(self, thread_id: str, items: Sequence[ThreadItem]) -> None:
        """Answer the next read of this thread from `items` (oldest first)."""
        self._preloaded = (thread_id, list(items))

    @override
    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        """A page of items; the first read after `preload` comes from memory."""
        preloaded, self._preloaded = self._preloaded, None
        if preloaded is None or preloaded[0] != thread_id or after is not None:
            return await super().load_thread_items(
                thread_id, after, limit, order, context
            )
        items = preloaded[1] if order == "asc" else preloaded[1][::-1]
        page, more = items[:limit], len(items) > limit
        return Page(data=page, has_more=more, after=page[-1].id if more else None)

    @override
    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: Any
    ) -> None:
        """Hold the item; `run_agent` emits its `thread.item.done` next."""
        self.held_items.append(item)
