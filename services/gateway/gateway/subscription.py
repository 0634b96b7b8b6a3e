"""Subscription: one client's bounded queue of one run's messages.

The relay's reader fills it without ever waiting (``offer``); the client's
stream drains it (``get``). Closing is synchronous, so it is safe in a
generator that is being cancelled because its client went away.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.live_event import LiveEvent
from shared.events import RunEnded, RunEvent
from shared.redis_keys import run_events_channel

DropReason = Literal["overflow", "shutdown", "redis_lost"]


@dataclass(frozen=True)
class RelayDropped:
    """Last item of a subscription the relay gave up on."""

    reason: DropReason


RelayMessage = RunEvent | LiveEvent | RunEnded
RelayItem = RelayMessage | RelayDropped


class Subscription:
    """One client's view of one run: a bounded queue the relay fills."""

    def __init__(
        self,
        run_id: str,
        limit: int,
        on_close: Callable[["Subscription"], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.channel = run_events_channel(run_id).encode()
        self._on_close = on_close
        self._limit = limit
        # Unbounded underneath: the limit is checked by offer(), so that the
        # drop marker always fits behind the events already queued.
        self._queue: asyncio.Queue[RelayItem] = asyncio.Queue()
        self._last_seq = 0
        self.closed = False

    @property
    def last_seq(self) -> int:
        """Sequence number of the last message queued."""
        return self._last_seq

    def skip_through(self, seq: int) -> None:
        """Refuse messages up to ``seq`` from now on: the client has them already."""
        self._last_seq = max(self._last_seq, seq)

    def get_nowait(self) -> RelayItem:
        """The next item if one is queued (``asyncio.QueueEmpty`` otherwise)."""
        return self._queue.get_nowait()

    async def get(self) -> RelayItem:
        """Wait for the next item."""
        return await self._queue.get()

    def close(self) -> None:
        """Stop receiving; synchronous so it is safe in a cancelled generator."""
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self)

    def offer(self, message: RelayMessage) -> bool:
        """Queue a message; False if the queue is full (the caller drops us)."""
        if message.seq <= self._last_seq:
            return True  # a duplicate after a resubscribe: already queued
        if self._queue.qsize() >= self._limit:
            return False
        self._last_seq = message.seq
        self._queue.put_nowait(message)
        if isinstance(message, RunEnded):
            # Nothing follows the end: leave the channel even if no one reads on.
            self.close()
        return True

    def drop(self, reason: DropReason) -> None:
        """End this subscription with a marker the stream turns into an error."""
        self._queue.put_nowait(RelayDropped(reason))
        self.close()
