"""SSE responses: ``data: <json>\\n\\n`` frames as the SDK writes them, keepalives.

A stream follows one run's subscription until the run's end marker, after
replaying what the client missed from the run's log (a resume). Messages are
numbered: one the client has already is never sent twice. While the run is
quiet, a comment line keeps proxies from closing the connection and the run is
checked (``run_watch``). A client that goes away only unsubscribes: the worker
owns the run and stores the answer.
"""

import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass

from chatkit.types import (
    ThreadCreatedEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
    ThreadUpdatedEvent,
)
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.errors import dropped_event, run_failed_event
from gateway.live_event import LiveEvent
from gateway.metrics import ACTIVE_STREAMS, EVENTS_RELAYED
from gateway.subscription import RelayDropped, RelayItem, Subscription
from gateway.views import chatkit_json, is_hidden, thread_response
from shared.events import RunEnded, RunEvent

SSE_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to; SSE must flow.
    "X-Accel-Buffering": "no",
}
KEEPALIVE_FRAME = b": keepalive\n\n"
THREAD_EVENTS = frozenset({"thread.created", "thread.updated"})


@dataclass(frozen=True)
class Keepalive:
    """The run was quiet for a whole keepalive interval."""


KEEPALIVE = Keepalive()

RunMessage = RunEvent | RunEnded
QuietCheck = Callable[[int], Awaitable[Sequence[RunMessage]]]
"""Called after each quiet interval with the last sequence number sent; answers
messages to send (from the run's log, or a made-up end)."""


@dataclass(frozen=True)
class Resume:
    """Where a stream picks its run up: logged messages after ``after``, then live."""

    replay: Sequence[RunMessage] = ()
    after: int = 0


START = Resume()


def data_frame(payload: bytes) -> bytes:
    """One SSE frame holding one JSON document."""
    return b"data: " + payload + b"\n\n"


def event_frame(event: ThreadStreamEvent) -> bytes:
    """One ChatKit event, framed byte for byte as ``ChatKitServer`` frames it."""
    return data_frame(chatkit_json(event))


def client_view(event: ThreadStreamEvent) -> ThreadStreamEvent | None:
    """What ``ChatKitServer`` would let through: no hidden items, no thread metadata."""
    match event:
        case ThreadCreatedEvent() | ThreadUpdatedEvent():
            thread = thread_response(event.thread, event.thread.items)
            return event.model_copy(update={"thread": thread})
        case ThreadItemAddedEvent() | ThreadItemDoneEvent() | ThreadItemReplacedEvent():
            return None if is_hidden(event.item) else event
        case _:
            return event


def relayed_frame(message: RunEvent | LiveEvent) -> bytes | None:
    """The frame ``ChatKitServer`` would send for a run's event; None if it sends none.

    A live item or delta event is forwarded as the worker serialized it; only
    thread-level events (their thread is reshaped) are validated again.
    """
    if isinstance(message, LiveEvent):
        if message.type not in THREAD_EVENTS:
            return None if message.hidden else data_frame(message.event_json)
        typed = message.message
        if typed is None:
            return None
        message = typed
    visible = client_view(message.event)
    return None if visible is None else event_frame(visible)


def event_type(message: RunEvent | LiveEvent) -> str:
    """The ChatKit ``type`` of a run's event."""
    return message.type if isinstance(message, LiveEvent) else message.event.type


RunItems = list[RelayItem]


def _fresh(items: Iterable[RelayItem], sent: int) -> tuple[RunItems, int, bool]:
    """What to send of ``items``: not sent before, up to the run's end or a drop.

    Answers the items, the last sequence number sent, and whether the stream ends.
    """
    fresh: RunItems = []
    for item in items:
        if isinstance(item, RelayDropped):
            fresh.append(item)
            return fresh, sent, True
        if item.seq <= sent:
            continue
        sent = item.seq
        fresh.append(item)
        if isinstance(item, RunEnded):
            return fresh, sent, True
    return fresh, sent, False


async def follow_batches(
    subscription: Subscription,
    keepalive_s: float,
    *,
    resume: Resume = START,
    on_quiet: QuietCheck | None = None,
) -> AsyncGenerator[RunItems | Keepalive, None]:
    """The run's items up to its end (or a drop) in batches, a Keepalive when quiet.

    ``resume.replay`` comes first; after it, a message whose sequence number
    was already sent is skipped (the live queue overlaps the log). Everything
    queued when the stream wakes comes as one batch, so a client that fell
    behind catches up in one write. The subscription is closed when the
    iteration ends for any reason, including the client going away (the
    generator is then cancelled).
    """
    sent = resume.after
    pending: Sequence[RelayItem] = resume.replay
    try:
        while True:
            if not pending:
                if not await subscription.wait(keepalive_s):
                    yield KEEPALIVE
                    if on_quiet is not None:
                        pending = await on_quiet(sent)
                    continue
                pending = subscription.drain()
            batch, sent, ended = _fresh(pending, sent)
            pending = ()
            if batch:
                yield batch
            if ended:
                return
    finally:
        subscription.close()


async def follow(
    subscription: Subscription,
    keepalive_s: float,
    *,
    resume: Resume = START,
    on_quiet: QuietCheck | None = None,
) -> AsyncIterator[RelayItem | Keepalive]:
    """``follow_batches``, one item at a time."""
    batches = follow_batches(
        subscription, keepalive_s, resume=resume, on_quiet=on_quiet
    )
    # aclosing: ending here ends follow_batches at once, which closes the
    # subscription.
    async with contextlib.aclosing(batches):
        async for batch in batches:
            if isinstance(batch, Keepalive):
                yield batch
                continue
            for item in batch:
                yield item


def with_id(seq: int, frame: bytes) -> bytes:
    """A frame with an ``id:`` line, so a client can resume after it."""
    return b"id: %d\n" % seq + frame


async def chatkit_frames(
    opening: Iterable[ThreadStreamEvent],
    subscription: Subscription,
    keepalive_s: float,
    *,
    resume: Resume = START,
    on_quiet: QuietCheck | None = None,
    ids: bool = False,
) -> AsyncIterator[bytes]:
    """Our opening events, then the run's ChatKit events until it ends.

    ``ids`` adds ``id:`` lines (the resume endpoint; never on ``POST /chatkit``,
    whose frames stay the SDK's bytes) and a last data-less ``id:`` frame at
    the end, so an EventSource that reconnects asks for nothing more. The
    frames of events queued together are yielded as one chunk (one write).
    """
    first = b"".join(event_frame(event) for event in opening)
    if first:
        yield first
    frames = _ChatKitFrames(ids)
    batches = follow_batches(
        subscription, keepalive_s, resume=resume, on_quiet=on_quiet
    )
    async with contextlib.aclosing(batches):
        async for batch in batches:
            if isinstance(batch, Keepalive):
                yield KEEPALIVE_FRAME
                continue
            chunk = frames.of(batch)
            if chunk:
                yield chunk


class _ChatKitFrames:
    """The ChatKit frames of a stream's batches; remembers if an error was sent."""

    def __init__(self, ids: bool) -> None:
        self.ids = ids
        self.error_sent = False

    def of(self, batch: RunItems) -> bytes:
        """The frames of one batch, joined."""
        out: list[bytes] = []
        relayed = 0
        for item in batch:
            match item:
                case LiveEvent() | RunEvent():
                    frame = relayed_frame(item)
                    if frame is None:
                        continue
                    relayed += 1
                    self.error_sent = self.error_sent or event_type(item) == "error"
                    out.append(with_id(item.seq, frame) if self.ids else frame)
                case RunEnded():
                    if item.status == "failed" and not self.error_sent:
                        out.append(event_frame(run_failed_event()))
                    if self.ids:
                        out.append(with_id(item.seq, b"\n"))
                case RelayDropped():
                    out.append(event_frame(dropped_event(item.reason)))
        if relayed:
            EVENTS_RELAYED.inc(relayed)
        return b"".join(out)


async def fixed_frames(frames: Iterable[bytes]) -> AsyncIterator[bytes]:
    """A stream whose frames are all known up front (a refusal, for example)."""
    for frame in frames:
        yield frame


class SseResponse(StreamingResponse):
    """A streamed ``text/event-stream`` response, counted in ``ACTIVE_STREAMS``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the frames; Starlette's response also watches for a disconnect."""
        ACTIVE_STREAMS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            ACTIVE_STREAMS.dec()


def sse_response(
    frames: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
) -> SseResponse:
    """A ``text/event-stream`` response with our SSE headers."""
    return SseResponse(
        frames,
        media_type="text/event-stream",
        headers={**SSE_HEADERS, **(headers or {})},
    )
