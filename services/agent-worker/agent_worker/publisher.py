"""Number a run's events, hold them briefly, and send them to Redis in batches.

Every flush is one `shared.run_log.append` pipeline: ONE PUBLISH on the run's
channel and ONE XADD to the run's log, whatever the number of messages it
carries (`shared.run_log` defines the batch format). The log's EXPIRE rides
along only on the first flush, whenever half the TTL has passed since the last
one, and on the run's end if a tenth of the TTL has passed since the last one,
so a long run's log never expires under it and a short run pays one EXPIRE.

Events are held and sent together, in the order they came:
- text deltas of one message part are merged. A delta goes out at once if no
  delta went out within the last `coalesce_s` (the first delta of a burst is
  the user's first token); otherwise it waits for the end of that window.
- any other event waits at most `coalesce_s`, usually less: the next delta
  that goes out takes everything held before it along.
- `flush` and `end` send everything held at once (the end goes out at once).

Redis trouble never fails the turn: messages that could not be sent wait in a
bounded backlog (still numbered, so the sequence has no gap) and go out with
the next flush once Redis answers again, minus those the log shows landed.
Once the run's lease is lost nothing more is published.
"""

import asyncio
import time
from dataclasses import dataclass

import structlog
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import run_log
from shared.events import RunEnded, RunEvent, RunStatus, ToolActivity

from .lease import Lease

RETRY_EVERY_S = 0.5
"""While Redis is unreachable, a flush tries it again at most this often."""
END_RETRY_S = 5.0
"""How long the end of a run waits for Redis to take its backlog."""

log = structlog.get_logger("agent_worker.publisher")


@dataclass
class _Delta:
    item_id: str
    content_index: int
    text: str

    def event(self) -> ThreadItemUpdatedEvent:
        update = AssistantMessageContentPartTextDelta(
            content_index=self.content_index, delta=self.text
        )
        return ThreadItemUpdatedEvent(item_id=self.item_id, update=update)


class RunPublisher:
    """Publishes one run's events in order, numbered from 1 without gaps."""

    def __init__(
        self,
        redis: "Redis",
        run_id: str,
        *,
        coalesce_s: float,
        log_maxlen: int,
        log_ttl_s: int,
        lease: Lease | None = None,
    ) -> None:
        self._redis = redis
        self._run_id = run_id
        self._coalesce_s = coalesce_s
        self._log_maxlen = log_maxlen
        self._log_ttl_s = log_ttl_s
        self._lease = lease
        self._seq = 0
        self._held: list[RunEvent] = []
        """Numbered, waiting for the next flush; the pending delta comes after."""
        self._held_delta = False
        """Whether `_held` holds a text delta."""
        self._pending: _Delta | None = None
        self._last_delta_flush = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = float("inf")
        self._timer_flush: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._timer_error: Exception | None = None
        self._unsent: list[RunEvent | RunEnded] = []
        self._paused = False
        self._next_try = 0.0
        self._expired_at: float | None = None
        self._end_expire_owed = False

    @property
    def last_seq(self) -> int:
        """Sequence number of the last message numbered (sent or waiting)."""
        return self._seq

    @property
    def next_seq(self) -> int:
        """Sequence number the next message gets (after `flush`: the RunEnded)."""
        return self._seq + 1

    @property
    def paused(self) -> bool:
        """Redis refused the last attempt: messages wait in the backlog."""
        return self._paused

    async def publish(
        self, event: ThreadStreamEvent, tool: ToolActivity | None = None
    ) -> None:
        """Hold an event for the next flush, due within the coalescing window."""
        self._raise_timer_error()
        delta = _text_delta(event) if tool is None else None
        if delta is None:
            self._close_pending()
            self._held.append(self._numbered(event, tool))
            self._schedule(time.monotonic() + self._coalesce_s)
            return
        pending = self._pending
        if pending and (pending.item_id, pending.content_index) == delta[:2]:
            pending.text += delta[2]
        else:
            self._close_pending()
            self._pending = _Delta(*delta)
        self._schedule(self._last_delta_flush + self._coalesce_s)

    async def flush(self) -> None:
        """Send everything held now."""
        await self._flush()

    async def end(self, status: RunStatus) -> None:
        """Flush what is held, send RunEnded, and wait a little for a lost Redis."""
        await self._flush(end=status)
        deadline = time.monotonic() + END_RETRY_S
        while self._unsent and time.monotonic() < deadline and not self._lease_lost():
            await asyncio.sleep(max(self._next_try - time.monotonic(), 0.0))
            async with self._lock:
                await self._send_backlog()
        if self._unsent:
            log.warning("run end not published", backlog=len(self._unsent))

    async def aclose(self) -> None:
        """Stop the timer; held events are dropped (call `end` first)."""
        self._cancel_timer()
        if self._timer_flush is not None:
            await self._timer_flush

    def _raise_timer_error(self) -> None:
        """A flush started by the timer failed: fail the caller's next publish."""
        error, self._timer_error = self._timer_error, None
        if error is not None:
            raise error

    def _schedule(self, due: float) -> None:
        """Flush at `due` (monotonic clock) at the latest."""
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(due - time.monotonic(), 0.0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_flush = asyncio.create_task(self._flush_on_timer())

    async def _flush_on_timer(self) -> None:
        try:
            await self._flush()
        except Exception as error:
            self._timer_error = error

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _flush(self, end: RunStatus | None = None) -> None:
        async with self._lock:
            self._cancel_timer()
            self._close_pending()
            messages: list[RunEvent | RunEnded] = [*self._held]
            self._held.clear()
            if self._held_delta:
                self._held_delta = False
                self._last_delta_flush = time.monotonic()
            if end is not None:
                self._seq += 1
                messages.append(
                    RunEnded(run_id=self._run_id, seq=self._seq, status=end)
                )
                self._end_expire_owed = True
            if messages:
                self._unsent.extend(messages)
                await self._send_backlog()

    def _close_pending(self) -> None:
        """Number the merged delta: whatever comes next goes after it."""
        if self._pending is not None:
            self._held.append(self._numbered(self._pending.event(), None))
            self._held_delta = True
            self._pending = None

    def _numbered(
        self, event: ThreadStreamEvent, tool: ToolActivity | None
    ) -> RunEvent:
        self._seq += 1
        return RunEvent(run_id=self._run_id, seq=self._seq, event=event, tool=tool)

    def _lease_lost(self) -> bool:
        return self._lease is not None and self._lease.lost

    async def _send_backlog(self) -> None:
        """Send every unsent message, unless the lease is gone or Redis rests."""
        if self._lease_lost():
            self._unsent.clear()
            return
        if self._paused and time.monotonic() < self._next_try:
            return
        try:
            if self._paused:
                await self._skip_landed()
            expire = self._expire_due()
            if self._unsent or expire:
                await run_log.append(
                    self._redis,
                    self._run_id,
                    self._unsent,
                    maxlen=self._log_maxlen,
                    ttl_s=self._log_ttl_s,
                    expire=expire,
                )
        except (RedisError, OSError) as error:
            self._pause(error)
            return
        if self._paused:
            log.info("publishing resumed", run_id=self._run_id, seq=self._seq)
            self._paused = False
        self._unsent.clear()
        if expire:
            self._expired_at = time.monotonic()
            self._end_expire_owed = False

    def _expire_due(self) -> bool:
        """First append, half the TTL since the last EXPIRE landed, or the end
        once a tenth of it has (the log then lives at least 90% of the TTL on)."""
        if self._expired_at is None:
            return True
        elapsed = time.monotonic() - self._expired_at
        return elapsed >= self._log_ttl_s / (10 if self._end_expire_owed else 2)

    async def _skip_landed(self) -> None:
        """Drop what the log already holds: a broken pipeline may have half run."""
        landed = await run_log.last_seq(self._redis, self._run_id)
        self._unsent = [m for m in self._unsent if m.seq > landed]

    def _pause(self, error: Exception) -> None:
        if not self._paused:
            log.warning(
                "publishing paused",
                run_id=self._run_id,
                error_type=type(error).__name__,
                error=str(error)[:200],
            )
        self._paused = True
        self._next_try = time.monotonic() + RETRY_EVERY_S
        # Older messages would be trimmed from the log anyway.
        del self._unsent[: max(len(self._unsent) - self._log_maxlen, 0)]


def _text_delta(event: ThreadStreamEvent) -> tuple[str, int, str] | None:
    if isinstance(event, ThreadItemUpdatedEvent) and isinstance(
        event.update, AssistantMessageContentPartTextDelta
    ):
        return event.item_id, event.update.content_index, event.update.delta
    return None
