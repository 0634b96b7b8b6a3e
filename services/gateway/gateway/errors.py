"""ApiError and the handlers that turn every failure into a JSON error body.

A client sees a short code and a human sentence, never a stack trace, a
provider's text or an internal address; the request id ties it to our logs.
"""

from collections.abc import Mapping

import httpx
import structlog
from chatkit.types import ErrorEvent
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from gateway.subscription import DropReason
from shared.history_api import ErrorBody
from shared.history_client import HistoryError, HistoryNotFound

log = structlog.get_logger(__name__)

BUSY_MESSAGE = "This conversation is still answering the previous message."
DROPPED_MESSAGES: Mapping[DropReason, str] = {
    "overflow": "This connection fell behind the answer; reload to see it.",
    "shutdown": "The server is restarting; reload the conversation to see the answer.",
    "redis_lost": "The connection to the answer was lost; please try again.",
}
RETRY_AFTER = {"Retry-After": "1"}
"""Sent with every 503: storage or the queue is expected back within seconds."""


class ApiError(Exception):
    """A request we refuse before any stream starts: an HTTP status and a JSON body."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})

    def about(self, op: str) -> "ApiError":
        """The same refusal, its detail naming the ChatKit op it refused."""
        if self.detail.startswith(f"{op}:"):
            return self
        return ApiError(self.status, self.error, f"{op}: {self.detail}", self.headers)


def busy_event() -> ErrorEvent:
    """ChatKit error for a second message while the thread's run is still going."""
    return ErrorEvent(code="custom", message=BUSY_MESSAGE, allow_retry=True)


def dropped_event(reason: DropReason) -> ErrorEvent:
    """ChatKit error for a stream the relay had to give up on."""
    # Overflow and shutdown: no retry, the run goes on in the worker and its
    # answer is stored anyway. A lost Redis may have lost the run's events too.
    message = DROPPED_MESSAGES[reason]
    retry = reason == "redis_lost"
    return ErrorEvent(code="custom", message=message, allow_retry=retry)


def run_failed_event() -> ErrorEvent:
    """ChatKit error for a run that ended failed without telling the client why."""
    return ErrorEvent(code="stream.error", allow_retry=True)


def error_response(
    status: int,
    error: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON body every non-2xx answer of the gateway has."""
    body = ErrorBody(error=error, detail=detail).model_dump()
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def validation_detail(exc: ValidationError | RequestValidationError) -> str:
    """Pydantic errors as ``location: message`` pairs, without the input values."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "; ".join(parts)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", validation_detail(exc))


async def _http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error = "not_found" if exc.status_code == 404 else "http_error"
    return error_response(exc.status_code, error, str(exc.detail), exc.headers)


async def _history_not_found(_: Request, __: Exception) -> JSONResponse:
    return error_response(404, "not_found", "thread not found")


async def _history_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.error("history_unavailable", error_type=type(exc).__name__, error=str(exc))
    return error_response(
        503,
        "history_unavailable",
        "conversation storage is unavailable; retry later",
        RETRY_AFTER,
    )


async def _redis_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.error("redis_unavailable", error_type=type(exc).__name__, error=str(exc))
    return error_response(
        503,
        "queue_unavailable",
        "the run queue is unavailable; retry later",
        RETRY_AFTER,
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return error_response(
        500, "internal_error", f"unexpected error; request id {request_id}"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(HistoryNotFound, _history_not_found)
    app.add_exception_handler(HistoryError, _history_unavailable)
    app.add_exception_handler(httpx.HTTPError, _history_unavailable)
    app.add_exception_handler(RedisError, _redis_unavailable)
    app.add_exception_handler(Exception, _unexpected)
