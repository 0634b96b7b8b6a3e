"""POST /chatkit: the ChatKit protocol and the simple format on one URL."""

from typing import Any, assert_never

from chatkit.types import (
    Page,
    StreamingReq,
    StreamOptions,
    StreamOptionsEvent,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadStreamEvent,
    is_streaming_req,
)
from fastapi import APIRouter, Request, Response

from gateway import json_ops, runs, simple_format
from gateway.auth import CurrentUser, User
from gateway.errors import busy_event
from gateway.metrics import REQUESTS
from gateway.protocol import SimpleReq, parse_request, read_body
from gateway.request_context import request_id
from gateway.sse import chatkit_frames, event_frame, fixed_frames, sse_response
from gateway.state import State, StateDep

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
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "SSE for streaming ops and the simple format, JSON otherwise",
        "content": {"text/event-stream": {}, "application/json": {}},
    },
    **{
        status: {"description": text, "content": _ERROR_BODY}
        for status, text in [
            (400, "Not JSON, or an unknown ChatKit type"),
            (401, "Missing, invalid or expired bearer token"),
            (404, "The thread does not exist for this user"),
            (413, "Body larger than GATEWAY_MAX_BODY_BYTES"),
            (422, "Missing or mistyped fields, empty message"),
            (501, "A ChatKit op this backend does not support yet"),
            (503, "Storage or queue unavailable"),
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
    raw = await read_body(request, state["settings"].gateway_max_body_bytes)
    parsed = parse_request(raw)
    if isinstance(parsed, SimpleReq):
        REQUESTS.labels(op="simple").inc()
        return await simple_format.respond(state, user, parsed, request_id(request))
    REQUESTS.labels(op=parsed.type).inc()
    if is_streaming_req(parsed):
        return await _stream(state, user, parsed, request_id(request))
    body = await json_ops.answer(parsed, user, state["history"])
    return Response(content=body, media_type="application/json")


async def _stream(state: State, user: User, req: StreamingReq, rid: str) -> Response:
    match req:
        case ThreadsCreateReq():
            thread_id = None
        case ThreadsAddUserMessageReq():
            thread_id = req.params.thread_id
        case (
            ThreadsAddClientToolOutputReq()
            | ThreadsAddStructuredInputReq()
            | ThreadsRetryAfterItemReq()
            | ThreadsCustomActionReq()
        ):
            raise json_ops.not_implemented(req.type)
        case _:
            assert_never(req)
    try:
        started = await runs.start(state, user, thread_id, req.params.input, rid)
    except runs.ThreadBusyError:
        # Nothing was stored; a 200 stream with one error is what ChatKit shows.
        return sse_response(fixed_frames([event_frame(busy_event())]))
    return sse_response(
        chatkit_frames(
            _opening_events(started),
            started.subscription,
            state["settings"].gateway_keepalive_s,
        )
    )


def _opening_events(started: runs.StartedRun) -> list[ThreadStreamEvent]:
    """The SDK's first frames: thread.created (new thread), user item, options."""
    events: list[ThreadStreamEvent] = []
    if started.new_thread is not None:
        thread = json_ops.thread_response(started.new_thread, Page())
        events.append(ThreadCreatedEvent(thread=thread))
    events.append(ThreadItemDoneEvent(item=started.user_item))
    events.append(StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True)))
    return events
