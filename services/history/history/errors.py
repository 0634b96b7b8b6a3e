"""Every 4xx is a JSON ``ErrorBody``; bad input never becomes a 500."""

from collections.abc import Mapping
from http import HTTPStatus

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from history.store.errors import Conflict, NotFound
from shared.history_api import ErrorBody

log = structlog.get_logger(__name__)

# Enough to name every problem of a realistic body without echoing a huge one.
MAX_DETAIL_CHARS = 1000


class ApiError(Exception):
    """An answer other than success, raised anywhere in a request."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(
    status: int,
    error: str,
    detail: str = "",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON answer for an error."""
    body = ErrorBody(error=error, detail=detail[:MAX_DETAIL_CHARS])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    # Location and message only: the offending input may be large or private.
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return error_response(404, "not_found", str(exc))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return error_response(409, exc.code, exc.detail)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", _validation_detail(exc))


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    detail = exc.detail if isinstance(exc.detail, str) else ""
    return error_response(exc.status_code, error, detail, exc.headers)


async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL refuses some values pydantic accepts (NUL characters, lone
    # surrogates, out-of-range intervals, oversized index keys): the input is at
    # fault, not the server.
    log.info("unstorable input", error_type=type(exc).__name__)
    return error_response(422, "invalid_value", "a value cannot be stored")


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL unreachable, restarting, or a statement over its timeout: the
    # caller may retry, so this is a 503 rather than a bug's 500.
    log.warning("database unavailable", error_type=type(exc).__name__)
    return error_response(503, "unavailable", "the database did not answer")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # A bug, not bad input: logged with its traceback, answered in the same shape.
    log.error("unhandled error", error_type=type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Map every expected failure to its JSON answer."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(asyncpg.DataError, _unstorable)
    app.add_exception_handler(asyncpg.ProgramLimitExceededError, _unstorable)
    for unavailable in (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.OperatorInterventionError,
        OSError,
        TimeoutError,
    ):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
