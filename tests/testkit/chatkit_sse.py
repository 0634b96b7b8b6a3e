"""HTTP client for ``POST /chatkit`` in tests: every frame and answer type-checked.

ChatKit frames are validated with ``openai-chatkit``'s ``ThreadStreamEvent``
adapter, JSON answers with its ``Thread``/``Page`` types; the simple format is
read into the models below. A frame that does not validate fails the test at
once, with the frame in the message.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import httpx
from chatkit.types import (
    Attachment,
    Page,
    SyncCustomActionResponse,
    Thread,
    ThreadItem,
    ThreadStreamEvent,
    TranscriptionResult,
)
from pydantic import BaseModel, Field, JsonValue, TypeAdapter

THREAD_STREAM_EVENT: TypeAdapter[ThreadStreamEvent] = TypeAdapter(ThreadStreamEvent)
THREAD: TypeAdapter[Thread] = TypeAdapter(Thread)
THREAD_PAGE: TypeAdapter[Page[Thread]] = TypeAdapter(Page[Thread])
ITEM_PAGE: TypeAdapter[Page[ThreadItem]] = TypeAdapter(Page[ThreadItem])
ATTACHMENT: TypeAdapter[Attachment] = TypeAdapter(Attachment)
SYNC_ACTION_RESPONSE: TypeAdapter[SyncCustomActionResponse] = TypeAdapter(
    SyncCustomActionResponse
)
TRANSCRIPTION: TypeAdapter[TranscriptionResult] = TypeAdapter(TranscriptionResult)

DONE = "[DONE]"
STREAM_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


# --- SSE framing -------------------------------------------------------------


@dataclass(frozen=True)
class SseFrame:
    """One server-sent event: its data and optional ``event``/``id`` fields."""

    data: str
    event: str | None = None
    id: str | None = None


@dataclass
class SseBody:
    """A whole SSE response: frames in order plus the comment lines (keepalives)."""

    frames: list[SseFrame] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def parse_sse(text: str) -> SseBody:
    """Split an SSE body into frames (``data`` lines joined by newlines)."""
    body = SseBody()
    data: list[str] = []
    fields: dict[str, str] = {}
    for line in [*text.replace("\r\n", "\n").split("\n"), ""]:
        if not line:
            if data:
                body.frames.append(SseFrame("\n".join(data), **fields))
            data, fields = [], {}
        elif line.startswith(":"):
            body.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id"):
                fields[name] = value
    return body


# --- simple format -------------------------------------------------------------


class SimpleThread(BaseModel):
    """First event: the conversation the answer belongs to (and the run's id)."""

    type: Literal["thread"]
    thread_id: str
    run_id: str | None = None


class SimpleText(BaseModel):
    """A piece of the assistant's answer."""

    type: Literal["text"]
    content: str


class SimpleThinking(BaseModel):
    """A piece of the model's visible reasoning."""

    type: Literal["thinking"]
    content: str


class SimpleToolCall(BaseModel):
    """The agent called a tool."""

    type: Literal["tool_call"]
    name: str
    args: JsonValue = None


class SimpleToolResult(BaseModel):
    """A tool returned."""

    type: Literal["tool_result"]
    name: str
    result: JsonValue = None


class SimpleError(BaseModel):
    """The run failed; ``message`` is safe to show."""

    type: Literal["error"]
    message: str


SimpleEvent = Annotated[
    SimpleThread | SimpleText | SimpleThinking | SimpleToolCall | SimpleToolResult
    | SimpleError,
    Field(discriminator="type"),
]  # fmt: skip
SIMPLE_EVENT: TypeAdapter[SimpleEvent] = TypeAdapter(SimpleEvent)


# --- results -----------------------------------------------------------------


@dataclass
class ChatKitStream:
    """A streamed ChatKit answer: validated events in order."""

    response: httpx.Response
    sse: SseBody
    events: list[ThreadStreamEvent]

    @property
    def thread_id(self) -> str | None:
        """Id from ``thread.created``, if the stream created a thread."""
        for event in self.events:
            if event.type == "thread.created":
                return event.thread.id
        return None

    @property
    def types(self) -> list[str]:
        """Event ``type`` values in order."""
        return [event.type for event in self.events]

    def assistant_text(self) -> str:
        """Concatenated text deltas of every assistant message in the stream."""
        return "".join(
            event.update.delta
            for event in self.events
            if event.type == "thread.item.updated"
            and event.update.type == "assistant_message.content_part.text_delta"
        )


@dataclass
class SimpleStream:
    """A streamed simple-format answer."""

    response: httpx.Response
    sse: SseBody
    events: list[SimpleEvent]
    done: bool

    @property
    def thread_id(self) -> str | None:
        """``X-Thread-Id`` of the answer."""
        value: str | None = self.response.headers.get("x-thread-id")
        return value

    def text(self) -> str:
        """The answer's text events joined."""
        return "".join(e.content for e in self.events if isinstance(e, SimpleText))


def validate_chatkit_frames(sse: SseBody) -> list[ThreadStreamEvent]:
    """Every frame as a ChatKit event; any frame that is not one raises."""
    events: list[ThreadStreamEvent] = []
    for frame in sse.frames:
        assert frame.data != DONE, "a ChatKit stream has no [DONE] sentinel"
        events.append(THREAD_STREAM_EVENT.validate_json(frame.data))
    return events


def validate_simple_frames(sse: SseBody) -> tuple[list[SimpleEvent], bool]:
    """Every frame as a simple-format event; ``[DONE]`` must be last if present."""
    events: list[SimpleEvent] = []
    done = False
    for frame in sse.frames:
        assert not done, f"frame after [DONE]: {frame.data}"
        if frame.data == DONE:
            done = True
            continue
        events.append(SIMPLE_EVENT.validate_json(frame.data))
    return events, done


def encode_body(body: BaseModel | Mapping[str, Any] | bytes) -> bytes:
    """Request bytes: raw bytes as given, models as the SDK serializes them."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, BaseModel):
        return body.model_dump_json(by_alias=True, exclude_none=True).encode()
    return json.dumps(body).encode()


async def iter_frames(response: httpx.Response) -> AsyncIterator[SseFrame]:
    """Frames of a response opened with ``http.stream(...)``, as they arrive."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line:
            lines.append(line)
            continue
        for frame in parse_sse("\n".join(lines)).frames:
            yield frame
        lines.clear()
    for frame in parse_sse("\n".join(lines)).frames:
        yield frame


def expect_sse(response: httpx.Response) -> None:
    assert response.status_code == 200, (response.status_code, response.text)
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("text/event-stream"), content_type


# --- reading a stream as it arrives -----------------------------------------------

READ_POLL_S = 0.02


@dataclass
class SseRead:
    """A streaming answer read frame by frame, possibly cut short by the reader.

    Filled while the read runs, so a test can watch it from another task with
    ``wait_for``.
    """

    status: int = 0
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    frames: list[SseFrame] = field(default_factory=list)
    body: str = ""
    """The whole body of an answer that is not a 200 event stream."""
    ended: bool = False
    """The server closed the stream (not the reader, not a broken connection)."""
    cut: bool = False
    """The reader disconnected on purpose (``stop_when`` held)."""
    broken: str | None = None
    """The transport error that ended the read, if any."""
    done: bool = False
    """The read is over, for whatever reason."""

    @property
    def ids(self) -> list[int]:
        """The ``id:`` values of the frames that carry one, in order."""
        return [int(frame.id) for frame in self.frames if frame.id is not None]

    @property
    def last_id(self) -> int | None:
        """The last ``id:`` seen (what a browser sends back as Last-Event-ID)."""
        ids = self.ids
        return ids[-1] if ids else None

    def header(self, name: str) -> str | None:
        """A response header, None when absent."""
        value: str | None = self.headers.get(name)
        return value

    def chatkit_events(self) -> list[ThreadStreamEvent]:
        """Every frame validated as a ChatKit event."""
        return validate_chatkit_frames(SseBody(frames=list(self.frames)))

    def simple_events(self) -> list[SimpleEvent]:
        """Every frame validated as a simple-format event (``[DONE]`` skipped)."""
        return validate_simple_frames(SseBody(frames=list(self.frames)))[0]

    async def wait_for(
        self, condition: Callable[["SseRead"], bool], *, within_s: float, what: str
    ) -> None:
        """Poll until ``condition`` holds; fail if the read ends or time runs out."""
        deadline = time.monotonic() + within_s
        while not condition(self):
            assert not self.done, f"stream ended before {what}: {self.frames[-3:]}"
            assert time.monotonic() < deadline, f"no {what} after {within_s} s"
            await asyncio.sleep(READ_POLL_S)


async def read_sse(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    params: Mapping[str, str | int] | None = None,
    stop_when: Callable[[SseRead], bool] | None = None,
    into: SseRead | None = None,
    http_timeout: httpx.Timeout = STREAM_TIMEOUT,
) -> SseRead:
    """Read a streaming answer frame by frame; disconnect once ``stop_when`` holds.

    Leaving early closes the connection, as a reloaded page or a lost network
    does. A broken connection ends the read (``broken``) instead of raising.
    """
    read = into or SseRead()
    try:
        async with http.stream(
            method,
            url,
            headers=dict(headers or {}),
            content=content,
            params=dict(params or {}),
            timeout=http_timeout,
        ) as response:
            read.status, read.headers = response.status_code, response.headers
            if not _is_event_stream(response):
                read.body = (await response.aread()).decode(errors="replace")
                read.ended = True
                return read
            await _read_frames(response, read, stop_when)
    except httpx.TransportError as exc:
        read.broken = f"{type(exc).__name__}: {exc}"
    finally:
        read.done = True
    return read


def _is_event_stream(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return response.status_code == 200 and content_type.startswith("text/event-stream")


async def _read_frames(
    response: httpx.Response,
    read: SseRead,
    stop_when: Callable[[SseRead], bool] | None,
) -> None:
    async for frame in iter_frames(response):
        read.frames.append(frame)
        if stop_when is not None and stop_when(read):
            read.cut = True
            return
    read.ended = True


def text_delta_frames(read: SseRead) -> int:
    """How many frames so far carry answer text (ChatKit deltas or simple text)."""
    return sum(1 for frame in read.frames if _is_text(frame))


def _is_text(frame: SseFrame) -> bool:
    return (
        '"assistant_message.content_part.text_delta"' in frame.data
        or frame.data.startswith('{"type":"text"')
    )


def after_frames(count: int) -> Callable[[SseRead], bool]:
    """A ``stop_when``: once ``count`` frames of any kind arrived."""
    return lambda read: len(read.frames) >= count


def after_text_frames(count: int) -> Callable[[SseRead], bool]:
    """A ``stop_when``: once ``count`` frames of answer text arrived."""
    return lambda read: text_delta_frames(read) >= count
