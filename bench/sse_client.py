"""A light SSE client on raw asyncio streams: one keep-alive HTTP/1.1 connection.

It parses only what the figures need: the response status, chunked framing,
``data:`` frames (counted and timed), ChatKit text deltas (by a substring),
and the first ``[<unix seconds>]`` stamp in a delta (the scripted model's
send time) for per-token latency. No JSON is decoded on the hot path.
"""

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

CHATKIT_DELTA = b'"assistant_message.content_part.text_delta"'
"""How a ChatKit text delta frame is told apart."""
MODEL_DELTA = b'"response.output_text.delta"'
"""How a Responses API text delta frame is told apart (the bare model)."""
STAMP = re.compile(rb"\[(\d{9,11}\.\d{6})\]")
HEAD_END = b"\r\n\r\n"
CRLF = b"\r\n"
FRAME_END = b"\n\n"
READ_LIMIT = 1 << 22


class StreamFailedError(Exception):
    """The server answered something other than a 200 event stream."""


@dataclass
class StreamTiming:
    """What one streamed request looked like, in ``perf_counter`` seconds."""

    sent: float
    first_event: float | None = None
    first_delta: float | None = None
    last_event: float | None = None
    events: int = 0
    deltas: int = 0
    lags: list[tuple[float, float]] = field(default_factory=list)
    """Per stamped delta: (wall time received, seconds since the model sent it)."""

    def on_frame(self, frame: bytes, marker: bytes, stamps: bool) -> None:
        """Count and time one SSE frame; ``marker`` tells a text delta."""
        if b"data:" not in frame:
            return
        now = time.perf_counter()
        self.events += 1
        self.last_event = now
        if self.first_event is None:
            self.first_event = now
        if marker not in frame:
            return
        self.deltas += 1
        if self.first_delta is None:
            self.first_delta = now
        if stamps:
            found = STAMP.search(frame)
            if found is not None:
                wall = time.time()
                self.lags.append((wall, wall - float(found.group(1))))


class SseConnection:
    """One connection to ``host:port``; requests go one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._reader.at_eof():
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=READ_LIMIT
            )
        return self._reader, self._writer

    async def close(self) -> None:
        """Close the socket, if open."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def post_stream(
        self,
        path: str,
        body: bytes,
        token: str,
        *,
        marker: bytes = CHATKIT_DELTA,
        stamps: bool = False,
    ) -> StreamTiming:
        """POST ``body`` and read the SSE answer to its end."""
        reader, writer = await self._streams()
        request = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"authorization: Bearer {token}\r\ncontent-type: application/json\r\n"
            f"accept: text/event-stream\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        timing = StreamTiming(sent=time.perf_counter())
        writer.write(request + body)
        try:
            head = await reader.readuntil(HEAD_END)
            _check_head(head)
            await _read_chunked(reader, timing, marker, stamps)
        except BaseException:
            await self.close()
            raise
        return timing


def _check_head(head: bytes) -> None:
    status = head[9:12]
    lowered = head.lower()
    if status != b"200" or b"transfer-encoding: chunked" not in lowered:
        raise StreamFailedError(head.split(CRLF, 1)[0].decode(errors="replace"))


async def _read_chunked(
    reader: asyncio.StreamReader, timing: StreamTiming, marker: bytes, stamps: bool
) -> None:
    pending = b""
    while True:
        size = int((await reader.readuntil(CRLF))[:-2].split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(CRLF)
            return
        pending += (await reader.readexactly(size + 2))[:-2]
        while True:
            cut = pending.find(FRAME_END)
            if cut < 0:
                break
            timing.on_frame(pending[:cut], marker, stamps)
            pending = pending[cut + 2 :]
