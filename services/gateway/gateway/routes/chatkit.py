"""POST /chatkit: the ChatKit protocol and the simple format on one URL."""

from typing import Any

from chatkit.types import StreamingReq, is_streaming_req
from fastapi import APIRouter, Request, Response

from gateway import json_ops, simple_format, streaming_ops
from gateway.auth import CurrentUser
from gateway.call import Call
from gateway.errors import ApiError, busy_event
from gateway.metrics import REQUESTS
from gateway.protocol import SimpleReq, chatkit_read_limit, parse_sized, read_body
from gateway.request_context import request_id
from gateway.runs import ThreadBusyError
from gateway.sse import chatkit_frames, event_frame, fixed_frames, sse_response
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
        return await simple_format.respond(state, user, parsed, request_id(request))
    REQUESTS.labels(op=parsed.type).inc()
    call = Call.of(request, state, user)
    try:
        if is_streaming_req(parsed):
            return await _stream(call, parsed)
        body = await json_ops.answer(parsed, call)
    except ApiError as refused:
        raise refused.about(parsed.type) from None
    except HistoryNotFound:
        raise ApiError(404, "not_found", f"{parsed.type}: thread not found") from None
    return Response(content=body, media_type="application/json")


async def _stream(call: Call, req: StreamingReq) -> Response:
    try:
        started, opening = await streaming_ops.start(call, req)
    except ThreadBusyError:
        # Nothing was stored; a 200 stream with one error is what ChatKit shows.
        return sse_response(fixed_frames([event_frame(busy_event())]))
    return sse_response(
        chatkit_frames(
            opening,
            started.subscription,
            call.state["settings"].gateway_keepalive_s,
        )
    )
