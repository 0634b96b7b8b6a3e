"""Number a run's events, merge text deltas, and send them to Redis.

Every flush is one pipeline: a PUBLISH on the run's channel and an XADD to the
run's log per message (plus EXPIRE on the log at the first flush and the last).
Log entries use the stream id `<seq>-0` and one field, `data`, holding the same
bytes as the PUBLISH, so a reader resumes after a Last-Event-ID with
`XRANGE run_log (<seq>-0 +`.

Text deltas of one message part are merged. The first delta of a burst goes out
at once (it is the user's first token); later ones wait at most `coalesce_s`.
Any other event first flushes the merged deltas, then goes out itself.
"""

import asyncio
import time
from dataclasses import dataclass

from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)
from redis.asyncio import Redis

from shared.events import RunEnded, RunEvent, RunStatus, ToolActivity, dump_run_message
from shared.redis_keys import run_events_channel, run_log

LOG_FIELD = "data"


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
    ) -> None:
        self._redis = redis
        self._run_id = run_id
        self._channel = run_events_channel(run_id)
        self._log = run_log(run_id)
        self._coalesce_s = coalesce_s
        self._log_maxlen = log_maxlen
        self._log_ttl_s = log_ttl_s
        self._seq = 0
        self._pending: _Delta | None = None
        self._last_delta_flush = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_flush: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._log_expires = False
        self._timer_error: Exception | None = None

    @property
    def last_seq(self) -> int:
        """Sequence number of the last message sent."""
        return self._seq

    async def publish(
        self, event: ThreadStreamEvent, tool: ToolActivity | None = None
    ) -> None:
        """Send an event; text deltas may be held up to the coalescing window."""
        self._raise_timer_error()
        delta = _text_delta(event) if tool is None else None
        if delta is None:
            await self._flush(event, tool)
            return
        pending = self._pending
        if pending and (pending.item_id, pending.content_index) == delta[:2]:
            pending.text += delta[2]
        else:
            if pending is not None:
                await self._flush()
            self._pending = _Delta(*delta)
        self._schedule()

    async def end(self, status: RunStatus) -> None:
        """Flush what is held, then send RunEnded."""
        await self._flush(end=status)

    async def aclose(self) -> None:
        """Stop the timer; held deltas are dropped (call `end` first)."""
        self._cancel_timer()
        if self._timer_flush is not None:
            await self._timer_flush

    def _raise_timer_error(self) -> None:
        """A flush started by the timer failed: fail the caller's next publish."""
        error, self._timer_error = self._timer_error, None
        if error is not None:
            raise error

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        delay = self._last_delta_flush + self._coalesce_s - time.monotonic()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(delay, 0.0), self._on_timer)

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

    async def _flush(
        self,
        event: ThreadStreamEvent | None = None,
        tool: ToolActivity | None = None,
        end: RunStatus | None = None,
    ) -> None:
        async with self._lock:
            messages: list[RunEvent | RunEnded] = []
            if self._pending is not None:
                self._cancel_timer()
                messages.append(self._numbered(self._pending.event(), None))
                self._pending = None
                self._last_delta_flush = time.monotonic()
            if event is not None:
                messages.append(self._numbered(event, tool))
            if end is not None:
                self._seq += 1
                messages.append(
                    RunEnded(run_id=self._run_id, seq=self._seq, status=end)
                )
            if messages:
                await self._send(messages, expire=end is not None)

    def _numbered(
        self, event: ThreadStreamEvent, tool: ToolActivity | None
    ) -> RunEvent:
        self._seq += 1
        return RunEvent(run_id=self._run_id, seq=self._seq, event=event, tool=tool)

    async def _send(self, messages: list[RunEvent | RunEnded], *, expire: bool) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for message in messages:
                data = dump_run_message(message)
                pipe.publish(self._channel, data)
                pipe.xadd(
                    self._log,
                    {LOG_FIELD: data},
                    id=f"{message.seq}-0",
                    maxlen=self._log_maxlen,
                    approximate=True,
                )
            if expire or not self._log_expires:
                pipe.expire(self._log, self._log_ttl_s)
                self._log_expires = True
            await pipe.execute()


def _text_delta(event: ThreadStreamEvent) -> tuple[str, int, str] | None:
    if isinstance(event, ThreadItemUpdatedEvent) and isinstance(
        event.update, AssistantMessageContentPartTextDelta
    ):
        return event.item_id, event.update.content_index, event.update.delta
    return None
