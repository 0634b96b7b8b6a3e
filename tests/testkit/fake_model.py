"""A scripted OpenAI-compatible model server: the only fake in the test suite.

Serves ``POST /v1/chat/completions`` and ``POST /v1/responses``, streaming (SSE)
or not, so the real openai client, the Agents SDK and LiteLLM run against it.
What it answers is decided by ``testkit.model_script`` from the request alone.
``POST /v1/audio/transcriptions`` (multipart, like OpenAI's speech-to-text)
answers ``{"text": "transcript of <n> bytes"}``, n = size of the uploaded file.
Every request is recorded: ``GET /requests`` lists ``{"path", "body"}`` objects
(a transcription's body is ``{"model", "filename", "content_type", "size"}``),
``DELETE /requests`` forgets them.

Run standalone with ``python -m testkit.fake_model --port 9100``; tests use the
``fake_model`` fixture, which runs it in a thread.
"""

import argparse
import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from testkit import chat_stream, responses_stream
from testkit.model_script import (
    FailReply,
    JSONObject,
    Reply,
    TextReply,
    ToolCallReply,
    chat_turn,
    decide,
    responses_turn,
)
from testkit.processes import free_port

DEFAULT_DELTAS = 20


@dataclass(frozen=True)
class FakeModelConfig:
    """How answers are paced: deltas per text answer and a pause before each."""

    deltas: int = DEFAULT_DELTAS
    delta_delay_s: float = 0.0

    @classmethod
    def from_env(cls) -> "FakeModelConfig":
        """Read ``FAKE_MODEL_DELTAS`` and ``FAKE_MODEL_DELTA_DELAY_S``."""
        return cls(
            deltas=int(os.environ.get("FAKE_MODEL_DELTAS", DEFAULT_DELTAS)),
            delta_delay_s=float(os.environ.get("FAKE_MODEL_DELTA_DELAY_S", "0")),
        )


def transcript_of(size: int) -> str:
    """What the fake model transcribes from an audio file of ``size`` bytes."""
    return f"transcript of {size} bytes"


class RecordedRequest(BaseModel):
    """One request the fake model received."""

    path: str
    body: JSONObject


def _prompt_tokens(body: JSONObject) -> int:
    # Deterministic and roughly proportional to the prompt, like a tokenizer.
    return max(1, len(json.dumps(body.get("messages") or body.get("input"))) // 4)


def _sse(
    frames: Iterable[BaseModel],
    config: FakeModelConfig,
    *,
    named: bool,
    done: bool,
    pace_s: float = 0.0,
) -> StreamingResponse:
    delay_s = max(config.delta_delay_s, pace_s)

    async def body() -> AsyncIterator[bytes]:
        for frame in frames:
            if delay_s:
                await asyncio.sleep(delay_s)
            data = frame.model_dump_json(exclude_none=True, by_alias=True)
            event = getattr(frame, "type", None) if named else None
            head = f"event: {event}\n" if event else ""
            yield f"{head}data: {data}\n\n".encode()
        if done:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _answerable(reply: Reply) -> TextReply | ToolCallReply | JSONResponse:
    """The reply to stream, or the error response that replaces it."""
    if isinstance(reply, FailReply):
        return JSONResponse(reply.body, status_code=reply.status)
    return reply


def _pace(reply: TextReply | ToolCallReply) -> float:
    return reply.pace_s if isinstance(reply, TextReply) else 0.0


def create_app(config: FakeModelConfig | None = None) -> FastAPI:
    """The fake model as an ASGI app."""
    config = config or FakeModelConfig.from_env()
    recorded: list[RecordedRequest] = []
    app = FastAPI(title="fake model")

    async def read(request: Request) -> JSONObject:
        body: JSONObject = await request.json()
        recorded.append(RecordedRequest(path=request.url.path, body=body))
        return body

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await read(request)
        reply = _answerable(decide(chat_turn(body)))
        if isinstance(reply, JSONResponse):
            return reply
        model, tokens = str(body.get("model", "fake")), _prompt_tokens(body)
        if not body.get("stream"):
            answer = chat_stream.completion(reply, model=model, prompt_tokens=tokens)
            return JSONResponse(answer.model_dump(mode="json", exclude_none=True))
        options = body.get("stream_options") or {}
        chunks = chat_stream.completion_chunks(
            reply,
            model=model,
            deltas=config.deltas,
            prompt_tokens=tokens,
            include_usage=bool(options.get("include_usage")),
        )
        return _sse(chunks, config, named=False, done=True, pace_s=_pace(reply))

    @app.post("/v1/responses")
    async def responses(request: Request) -> Response:
        body = await read(request)
        reply = _answerable(decide(responses_turn(body)))
        if isinstance(reply, JSONResponse):
            return reply
        model, tokens = str(body.get("model", "fake")), _prompt_tokens(body)
        if not body.get("stream"):
            answer = responses_stream.final_response(
                reply, model=model, input_tokens=tokens
            )
            return JSONResponse(answer.model_dump(mode="json", exclude_none=True))
        events = responses_stream.response_events(
            reply, model=model, deltas=config.deltas, input_tokens=tokens
        )
        return _sse(events, config, named=True, done=False, pace_s=_pace(reply))

    _add_transcriptions(app, recorded)
    _add_request_log(app, recorded)
    return app


def _add_transcriptions(app: FastAPI, recorded: list[RecordedRequest]) -> None:
    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> JSONObject:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, "multipart field 'file' is required")
        size = len(await upload.read())
        body: JSONObject = {
            "model": str(form.get("model", "")),
            "filename": upload.filename,
            "content_type": upload.content_type,
            "size": size,
        }
        recorded.append(RecordedRequest(path=request.url.path, body=body))
        return {"text": transcript_of(size)}


def _add_request_log(app: FastAPI, recorded: list[RecordedRequest]) -> None:
    @app.get("/requests")
    async def list_requests() -> list[RecordedRequest]:
        return list(recorded)

    @app.delete("/requests", status_code=204)
    async def clear_requests() -> None:
        recorded.clear()


class FakeModelServer:
    """The fake model served by uvicorn in a background thread."""

    def __init__(
        self, config: FakeModelConfig | None = None, *, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        uv_config = uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._server.run, name="fake-model", daemon=True
        )

    def start(self, timeout: float = 15.0) -> "FakeModelServer":
        """Start serving; return once the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake model did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10.0)


def recorded_requests(base_url: str) -> list[RecordedRequest]:
    """Requests the fake model at ``base_url`` (``.../v1`` or root) received."""
    root = base_url.removesuffix("/v1")
    answer = httpx.get(f"{root}/requests", timeout=5.0)
    answer.raise_for_status()
    raw: list[dict[str, Any]] = answer.json()
    return [RecordedRequest.model_validate(item) for item in raw]


def clear_recorded_requests(base_url: str) -> None:
    """Forget every request recorded so far."""
    root = base_url.removesuffix("/v1")
    httpx.delete(f"{root}/requests", timeout=5.0).raise_for_status()


def main() -> None:
    """Serve the fake model in the foreground (for benchmarks and manual runs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
