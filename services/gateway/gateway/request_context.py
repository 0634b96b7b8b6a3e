"""A request id per request: bound to the logs, sent back as ``X-Request-Id``.

Pure ASGI (not ``BaseHTTPMiddleware``) so that streamed bodies pass untouched.
"""

import time

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.ids import new_id

SCOPE_KEY = "gateway.request_id"
HEADER = b"x-request-id"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probed every few seconds by orchestrators: logged at debug level only."""

log = structlog.get_logger(__name__)


def request_id(request: Request) -> str:
    """The id of this request (also in its log lines and response header)."""
    value = request.scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else ""


class RequestContextMiddleware:
    """Mint the request id, bind it for logging, log one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id bound."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_id("req")
        scope[SCOPE_KEY] = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (HEADER, rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            emit = log.debug if scope["path"] in QUIET_PATHS else log.info
            emit(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
