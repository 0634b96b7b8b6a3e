"""POST /chatkit: the ChatKit protocol and the simple format on one URL."""

from dataclasses import replace
from typing import Any

from chatkit.types import StreamingReq, is_streaming_req
from fastapi import APIRouter, Request, Response

from gateway import busy, json_ops, run_stream, simple_format, streaming_ops
from gateway.auth import CurrentUser
from gateway.call import Call
from gateway.errors import ApiError, busy_event
from gateway.metrics import REQUESTS
from gateway.protocol import (
    IDEMPOTENCY_HEADER,
    SimpleReq,
    chatkit_read_limit,
    idempotency_key,
    parse_sized,
    read_body,
)
from gateway.request_context import request_id
from gateway.runs import ThreadBusyError
from gateway.sse import (
    START,
    Resume,
    chatkit_frames,
    event_frame,
    fixed_frames,
    sse_response,
)
from gateway.state import StateDep
from shared.history_client import HistoryNotFound

router = APIRouter(tags=["chatkit"])

_ERROR_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
            "required": ["error", "detail"],
        }
    }
}
_OPENAPI_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": False,
            "description": "Streaming requests: a retry with the same key re-attaches "
            "to the first request's run instead of storing the input again",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "description": "A ChatKit request (openai-chatkit 1.6)",
                            "properties": {
                                "type": {"type": "string"},
                                "params": {"type": "object"},
                                "metadata": {"type": "object"},
                            },
                            "required": ["type"],
                        },
                        SimpleReq.model_json_schema(),
                    ]
                }
            }
        },
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "SSE for streaming ops and the simple format (headers "
        "X-Run-Id and X-Thread-Id name the run and its thread), JSON otherwise",
        "content": {"text/event-stream": {}, "application/json": {}},
        "headers": {
            "X-Run-Id": {
                "description": "Streaming: the run (resume, status, cancel)",
                "schema": {"type": "string"},
            },
            "X-Thread-Id": {
                "description": "Streaming: the thread the run belongs to",
                "schema": {"type": "string"},
            },
        },
    },
    **{
        status: {"description": text, "content": _ERROR_BODY}
        for status, text in [
            (400, "Not JSON, or an unknown ChatKit type"),
            (401, "Missing, invalid or expired bearer token"),
            (404, "The thread, item or attachment does not exist for this user"),
            (409, "The item is not in the state the op needs"),
            (413, "Body, attachment or audio over its configured limit"),
            (415, "An attachment or audio type that is not accepted"),
            (422, "Missing or mistyped fields, empty message, refused action"),
            (501, "Speech-to-text is not available with this model provider"),
            (502, "The worker or the speech-to-text provider failed"),
            (503, "Storage or queue unavailable"),
            (504, "No worker answered a sync action or transcription in time"),
        ]
    },
}


@router.post(
    "/chatkit",
    summary="ChatKit protocol endpoint (also accepts the simple format)",
    openapi_extra=_OPENAPI_BODY,
    responses=_RESPONSES,
    response_class=Response,
)
async def chatkit(request: Request, user: CurrentUser, state: StateDep) -> Response:
    """Validate the body fully, then answer JSON or start a run and stream it."""
    settings = state["settings"]
    parsed = parse_sized(
        await read_body(request, chatkit_read_limit(settings)),
        settings.gateway_max_body_bytes,
    )
    if isinstance(parsed, SimpleReq):
        REQUESTS.labels(op="simple").inc()
        key = idempotency_key(request)
        return await simple_format.respond(
            state, user, parsed, request_id(request), key
        )
    REQUESTS.labels(op=parsed.type).inc()
    call = Call.of(request, state, user)
    try:
        if is_streaming_req(parsed):
            key = idempotency_key(request)
            return await _stream(replace(call, idempotency_key=key), parsed)
        body = await json_ops.answer(parsed, call)
    except ApiError as refused:
        raise refused.about(parsed.type) from None
    except HistoryNotFound:
        raise ApiError(404, "not_found", f"{parsed.type}: thread not found") from None
    return Response(content=body, media_type="application/json")


async def _stream(call: Call, req: StreamingReq) -> Response:
    state, user = call.state, call.user
    try:
        started, opening = await busy.open_when_free(
            state, user, lambda: streaming_ops.start(call, req)
        )
    except ThreadBusyError:
        # Nothing was stored; a 200 stream with one error is what ChatKit shows.
        return sse_response(fixed_frames([event_frame(busy_event())]))
    run, subscription = started.run, started.subscription
    resume = START
    if started.reused:  # a retried request: the run from its first event
        resume = Resume(replay=await run_stream.read_log(state, run, 0, subscription))
    frames = chatkit_frames(
        opening,
        subscription,
        state["settings"].gateway_keepalive_s,
        resume=resume,
        on_quiet=run_stream.watch(state, user.id, run.id),
    )
    return run_stream.run_response(state, user.id, run, frames)
