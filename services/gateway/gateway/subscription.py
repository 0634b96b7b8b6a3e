"""Subscription: one client's bounded queue of one run's messages.

The relay's reader fills it without ever waiting (``offer``); the client's
stream takes everything queued at once (``drain``) and, when nothing is,
waits (``wait``). Closing is synchronous, so it is safe in a generator that is
being cancelled because its client went away.

This is the relay's hot path (one offer and one wake-up per event and client),
so it is a deque and one future rather than an ``asyncio.Queue`` under an
``asyncio.timeout``: no timer is created or cancelled per event. The quiet
interval is watched by one timer per subscription, re-armed only when it fires
early.
"""

import asyncio
from collections import deque
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
        self._items: deque[RelayItem] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._quiet_since: float | None = None
        self._quiet_s = 0.0
        self._last_seq = 0
        self.closed = False

    @property
    def last_seq(self) -> int:
        """Sequence number of the last message queued."""
        return self._last_seq

    def skip_through(self, seq: int) -> None:
        """Refuse messages up to ``seq`` from now on: the client has them already."""
        self._last_seq = max(self._last_seq, seq)

    async def get(self) -> RelayItem:
        """Wait for the next item (however long the run stays quiet)."""
        while not self._items:
            await self._wait_for_item()
        return self._items.popleft()

    def drain(self) -> list[RelayItem]:
        """Every queued item, oldest first; the queue is then empty."""
        items = list(self._items)
        self._items.clear()
        return items

    async def wait(self, quiet_s: float) -> bool:
        """Wait for an item (True) or for ``quiet_s`` without one (False).

        The quiet interval counts from the previous ``wait``'s return: the time
        the stream spent sending what it drained is part of it.
        """
        loop = self._running_loop()
        if self._items:
            self._quiet_since = loop.time()
            return True
        if self._quiet_since is None:
            self._quiet_since = loop.time()
        self._quiet_s = quiet_s
        if self._timer is None:
            self._timer = loop.call_at(self._quiet_since + quiet_s, self._on_timer)
        try:
            ready = await self._wait_for_item()
        finally:
            self._quiet_since = loop.time()
        return ready

    async def _wait_for_item(self) -> bool:
        waiter: asyncio.Future[bool] = self._running_loop().create_future()
        self._waiter = waiter
        try:
            return await waiter
        finally:
            self._waiter = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # Looked up once: on Python 3.11 each asyncio.get_running_loop() is
        # a getpid() system call, and wait() runs once per event.
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # the stream is busy sending: its next wait() re-arms
        loop = self._running_loop()
        due = (self._quiet_since or 0.0) + self._quiet_s
        if loop.time() >= due:
            waiter.set_result(False)
        else:
            self._timer = loop.call_at(due, self._on_timer)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def close(self) -> None:
        """Stop receiving; synchronous so it is safe in a cancelled generator."""
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self)
        if self._timer is not None and self._waiter is None:
            self._timer.cancel()
            self._timer = None

    def offer(self, message: RelayMessage) -> bool:
        """Queue a message; False if the queue is full (the caller drops us)."""
        if message.seq <= self._last_seq:
            return True  # a duplicate after a resubscribe: already queued
        if len(self._items) >= self._limit:
            return False
        self._last_seq = message.seq
        self._items.append(message)
        self._wake()
        if isinstance(message, RunEnded):
            # Nothing follows the end: leave the channel even if no one reads on.
            self.close()
        return True

    def drop(self, reason: DropReason) -> None:
        """End this subscription with a marker the stream turns into an error."""
        self._items.append(RelayDropped(reason))
        self._wake()
        self.close()
