"""The chatkit Store handed to AgentContext for one turn: HistoryStore, plus a hold.

`chatkit.agents.stream_agent_response` reads the thread's newest items through the
store and, when a turn ends with a workflow still open (a turn that ends right
after a tool call), writes that workflow with `add_thread_item` directly instead
of emitting `thread.item.done`. This store holds such items back so that
`run_agent` announces and persists them like every other done item (persist with
the tool calls, then publish).
"""

from typing import Any

from chatkit.types import ThreadItem
from typing_extensions import override

from shared.history_client import HistoryClient
from shared.history_store import HistoryStore


class TurnStore(HistoryStore):
    """HistoryStore whose direct item inserts are held for `run_agent`."""

    held_items: list[ThreadItem]
    """Items added directly during the turn, in order; not yet persisted."""

    @classmethod
    def for_turn(cls, client: HistoryClient) -> "TurnStore":
        """A store over the worker's shared client, with nothing held."""
        store = cls.from_client(client)
        assert isinstance(store, TurnStore)
        store.held_items = []
        return store

    @override
    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: Any
    ) -> None:
        """Hold the item; `run_agent` emits its `thread.item.done` after the stream."""
        self.held_items.append(item)
