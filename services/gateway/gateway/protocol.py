"""Raw request body -> a typed ChatKit request or a simple-format request.

Every problem with the input is an ``ApiError`` (4xx, JSON) raised here, before
any stream starts: too large, not JSON, unknown ``type``, missing or mistyped
fields, an empty message, ids that could not travel in a URL path.
"""

import re
import typing
from typing import Any

import orjson
from chatkit.types import (
    ChatKitReq,
    InputTranscribeReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    UserMessageInput,
    UserMessageTagContent,
    UserMessageTextContent,
)
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.requests import Request

from gateway.errors import ApiError
from gateway.settings import GatewaySettings

CHATKIT_REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
"""Built once: the 16 ChatKit ops, discriminated on ``type``."""

ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
"""Thread, item and attachment ids travel in history's URL paths: no `/`, `.`, `?`."""
_ID_RE = re.compile(ID_PATTERN)
_PATH_ID_PARAMS = ("thread_id", "item_id", "attachment_id")


class SimpleReq(BaseModel):
    """The original simple format: one message, optionally into an existing thread."""

    model_config = ConfigDict(frozen=True, strict=True)

    message: str
    thread_id: str | None = Field(default=None, pattern=ID_PATTERN)
    """Omitted: a new conversation is created (its id comes back first)."""


SIMPLE_REQUEST_ADAPTER: TypeAdapter[SimpleReq] = TypeAdapter(SimpleReq)


def _known_types() -> tuple[str, ...]:
    union = typing.get_args(ChatKitReq)[0]
    return tuple(cls.model_fields["type"].default for cls in typing.get_args(union))


KNOWN_TYPES = _known_types()
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_CHARS = 200
"""``RunOpen.idempotency_key``'s limit."""
MAX_SHOWN_VALUE_CHARS = 60
JSON_ENVELOPE_BYTES = 64 * 1024
"""Room for the JSON around an ``input.transcribe`` request's base64 audio."""


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` (1 to 200 characters), if it sent one."""
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise ApiError(
            422,
            "invalid_request",
            f"{IDEMPOTENCY_HEADER}: 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters",
        )
    return value


def too_large(limit: int) -> ApiError:
    """The 413 for a body over the configured size."""
    return ApiError(
        413, "body_too_large", f"the request body is larger than {limit} bytes"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "invalid_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def chatkit_read_limit(settings: GatewaySettings) -> int:
    """How much of a ``/chatkit`` body to read before parsing it.

    ``input.transcribe`` carries up to GATEWAY_TRANSCRIBE_MAX_BYTES of audio as
    base64; every other op is held to GATEWAY_MAX_BODY_BYTES once parsed
    (``parse_sized``).
    """
    audio_base64 = -(-settings.gateway_transcribe_max_bytes // 3) * 4
    return max(settings.gateway_max_body_bytes, audio_base64 + JSON_ENVELOPE_BYTES)


def parse_sized(raw: bytes, limit: int) -> ChatKitReq | SimpleReq:
    """``parse_request``, but a body over ``limit`` is a 413 unless it is audio."""
    if len(raw) <= limit:
        return parse_request(raw)
    try:
        parsed = parse_request(raw)
    except ApiError:
        raise too_large(limit) from None
    if not isinstance(parsed, InputTranscribeReq):
        raise too_large(limit)
    return parsed


def parse_request(raw: bytes) -> ChatKitReq | SimpleReq:
    """Validate a body: ChatKit when it has ``type``, simple format when ``message``."""
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    if "type" in data:
        return _chatkit_request(data)
    if "message" in data:
        return _simple_request(data)
    raise ApiError(
        422,
        "invalid_request",
        "the body needs a 'type' (ChatKit protocol) or a 'message' (simple format)",
    )


def _chatkit_request(data: dict[str, Any]) -> ChatKitReq:
    op = data["type"]
    if not isinstance(op, str) or op not in KNOWN_TYPES:
        shown = repr(op)[:MAX_SHOWN_VALUE_CHARS]
        raise ApiError(
            400,
            "unknown_type",
            f"unknown request type {shown}; expected one of {', '.join(KNOWN_TYPES)}",
        )
    try:
        request = CHATKIT_REQUEST_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", f"{op}: {_detail(exc, op)}") from None
    _check_ids(request.params, op)
    if isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
        check_user_input(request.params.input, f"{op}: params.input")
    return request


def _check_ids(params: BaseModel, op: str) -> None:
    for name in _PATH_ID_PARAMS:
        value = getattr(params, name, None)
        if isinstance(value, str) and not _ID_RE.match(value):
            raise ApiError(
                422, "invalid_request", f"{op}: params.{name}: not a valid id"
            )


def _simple_request(data: dict[str, Any]) -> SimpleReq:
    try:
        request = SIMPLE_REQUEST_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", _detail(exc, None)) from None
    if not request.message.strip():
        raise ApiError(422, "empty_message", "message: the message has no text")
    return request


def check_user_input(user_input: UserMessageInput, where: str) -> None:
    """Refuse a message with neither text, tags nor attachments, and bad ids."""
    if not all(_ID_RE.match(a) for a in user_input.attachments):
        raise ApiError(
            422, "invalid_request", f"{where}.attachments: not a valid attachment id"
        )
    if user_input.attachments:
        return
    if not any(_has_text(part) for part in user_input.content):
        raise ApiError(
            422, "empty_message", f"{where}.content: the message has no text"
        )


def _has_text(part: UserMessageTextContent | UserMessageTagContent) -> bool:
    match part:
        case UserMessageTextContent():
            return bool(part.text.strip())
        case UserMessageTagContent():
            return True
        case _:
            typing.assert_never(part)


def _detail(exc: ValidationError, op: str | None) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])
        if op is not None and loc and loc[0] == op:
            loc = loc[1:]  # pydantic puts the union tag first
        where = ".".join(str(p) for p in loc)
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)
