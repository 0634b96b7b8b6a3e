"""A scripted Responses API server for the benchmark, cheap enough not to matter.

Like ``testkit.fake_model`` it streams an OpenAI Responses answer, but from a
raw asyncio HTTP/1.1 server (keep-alive, chunked SSE, JSON built from small
dicts) so that its own CPU stays far below the systems under test, and each
request picks its shape with a directive in the user text,
``bench{<deltas>,<pace_ms>,<stamp>}``: that many text deltas, each sent
``pace_ms`` after the previous one (on a fixed schedule), and with ``stamp`` 1
each delta's text is the wall-clock time it was sent (``[<unix seconds>]``) so
a client can measure per-token latency end to end. Without a directive: 200
deltas, no pause, no stamps.

``python -m bench.scripted_model --port N``; ``GET /healthz`` answers 200.
"""

import argparse
import asyncio
import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import uvloop

DIRECTIVE = re.compile(rb"bench\{(\d+),(\d+(?:\.\d+)?),([01])\}")
WORD = "tok "
HEAD_END = b"\r\n\r\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


@dataclass(frozen=True)
class Shape:
    """What one answer looks like."""

    deltas: int = 200
    pace_s: float = 0.0
    stamp: bool = False


def shape_of(body: bytes) -> Shape:
    """The directive of the request's last user text, or the default shape."""
    found = DIRECTIVE.findall(body)
    if not found:
        return Shape()
    deltas, pace_ms, stamp = found[-1]
    return Shape(int(deltas), float(pace_ms) / 1000, stamp == b"1")


def _chunk(event: dict[str, Any]) -> bytes:
    data = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


class Answer:
    """The frames of one streamed text answer, numbered as they are sent."""

    def __init__(self, model: str) -> None:
        self.response_id = f"resp_{uuid.uuid4().hex}"
        self.item_id = f"msg_{uuid.uuid4().hex}"
        self.model = model
        self.seq = 0

    def frame(self, kind: str, **fields: Any) -> bytes:
        """One SSE event in a chunk, with the next sequence number."""
        event = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return _chunk(event)

    def response(self, output: list[dict[str, Any]], status: str) -> dict[str, Any]:
        """The Response object of created/in_progress/completed."""
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": time.time(),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "status": status,
        }
        if status == "completed":
            body["usage"] = {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": max(1, len(output)),
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 10 + max(1, len(output)),
            }
        return body

    def message(self, text: str | None) -> dict[str, Any]:
        """The output message item, in progress (None) or done with ``text``."""
        content = [] if text is None else [_text_part(text)]
        status = "in_progress" if text is None else "completed"
        return {
            "id": self.item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }

    def where(self) -> dict[str, Any]:
        """Fields that place an event in the output message's only part."""
        return {"item_id": self.item_id, "output_index": 0, "content_index": 0}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


async def stream_answer(writer: asyncio.StreamWriter, shape: Shape, model: str) -> None:
    """Write the whole SSE answer of one request."""
    answer = Answer(model)
    writer.write(SSE_HEAD)
    start = answer.response([], "in_progress")
    writer.write(answer.frame("response.created", response=start))
    writer.write(answer.frame("response.in_progress", response=start))
    writer.write(
        answer.frame(
            "response.output_item.added", item=answer.message(None), output_index=0
        )
    )
    writer.write(
        answer.frame(
            "response.content_part.added", part=_text_part(""), **answer.where()
        )
    )
    pieces = await _stream_deltas(writer, answer, shape)
    await _finish(writer, answer, "".join(pieces))


async def _stream_deltas(
    writer: asyncio.StreamWriter, answer: Answer, shape: Shape
) -> list[str]:
    pieces: list[str] = []
    began = time.monotonic()
    for index in range(shape.deltas):
        if shape.pace_s:
            delay = began + (index + 1) * shape.pace_s - time.monotonic()
            await asyncio.sleep(max(0.0, delay))
        piece = f"[{time.time():.6f}]" if shape.stamp else WORD
        pieces.append(piece)
        writer.write(
            answer.frame(
                "response.output_text.delta",
                delta=piece,
                logprobs=[],
                **answer.where(),
            )
        )
        if shape.pace_s:
            await writer.drain()
    return pieces


async def _finish(writer: asyncio.StreamWriter, answer: Answer, text: str) -> None:
    where = answer.where()
    writer.write(
        answer.frame("response.output_text.done", text=text, logprobs=[], **where)
    )
    writer.write(
        answer.frame("response.content_part.done", part=_text_part(text), **where)
    )
    done = answer.message(text)
    writer.write(answer.frame("response.output_item.done", item=done, output_index=0))
    final = answer.response([done], "completed")
    writer.write(answer.frame("response.completed", response=final))
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _model_of(body: bytes) -> str:
    with contextlib.suppress(ValueError, TypeError):
        return str(json.loads(body).get("model", "bench-model"))
    return "bench-model"


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer requests on one keep-alive connection until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(HEAD_END)
            body = await reader.readexactly(_content_length(head))
            target = head.split(b" ", 2)[:2]
            if target == [b"POST", b"/v1/responses"]:
                await stream_answer(writer, shape_of(body), _model_of(body))
            elif target == [b"GET", b"/healthz"]:
                writer.write(OK_HEAD)
            else:
                writer.write(NOT_FOUND)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    """Serve until cancelled."""
    server = await asyncio.start_server(serve_connection, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Entry point: ``python -m bench.scripted_model --port N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
