import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from chatkit.types import ChatKitReq
from pydantic import TypeAdapter

from gateway.protocol import SimpleReq, parse_request
from shared.history_api import ErrorBody
from testkit.tokens import auth_headers

CHATKIT_REQUEST: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
BODY_LIMIT = 4096  # the bare gateway's GATEWAY_MAX_BODY_BYTES (see conftest)


def _user_input(text: object = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
        **extra,
    }


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str
    detail: str


async def _post(http: httpx.AsyncClient, body: bytes | dict[str, Any]) -> Refusal:
    """POST as user u1; the answer must be a JSON 4xx error, never a stream or 500."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await http.post(
        "/chatkit",
        content=content,
        headers={**auth_headers("u1"), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    error = ErrorBody.model_validate_json(response.content)
    return Refusal(response.status_code, error.error, error.detail)


@pytest.mark.parametrize(
    "body", [b"not json", b"{", b"{'type': 1}", b"\xff\xfe\x00", b"", b"   "]
)
async def test_body_that_is_not_json_is_400_invalid_json(
    bare_http: httpx.AsyncClient, body: bytes
) -> None:
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (400, "invalid_json")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"threads.list"', b"null", b"42"])
async def test_json_that_is_not_an_object_is_400(
    bare_http: httpx.AsyncClient, body: bytes
) -> None:
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (400, "invalid_json")
    assert "object" in error.detail


@pytest.mark.parametrize("op", ["threads.nope", "threads.cancel", 7, None, ""])
async def test_unknown_type_is_400_naming_the_type_and_the_known_ones(
    bare_http: httpx.AsyncClient, op: object
) -> None:
    error = await _post(bare_http, {"type": op, "params": {}})
    assert (error.status, error.error) == (400, "unknown_type")
    assert repr(op) in error.detail
    assert "threads.create" in error.detail


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"type": "threads.create", "params": {}}, "params.input"),
        ({"type": "threads.create"}, "params"),
        ({"type": "threads.get_by_id", "params": {}}, "params.thread_id"),
        (
            {"type": "threads.add_user_message", "params": {"input": _user_input()}},
            "params.thread_id",
        ),
        (
            {"type": "threads.create", "params": {"input": {"content": []}}},
            "params.input.attachments",
        ),
    ],
)
async def test_missing_fields_are_422_with_their_location(
    bare_http: httpx.AsyncClient, body: dict[str, Any], location: str
) -> None:
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (422, "invalid_request")
    assert f"{location}: Field required" in error.detail
    assert error.detail.startswith(f"{body['type']}: ")


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"type": "threads.list", "params": {"limit": "many"}}, "params.limit"),
        ({"type": "threads.list", "params": {"order": "sideways"}}, "params.order"),
        ({"type": "threads.get_by_id", "params": {"thread_id": 5}}, "params.thread_id"),
        (
            {"type": "threads.create", "params": {"input": _user_input(5)}},
            "params.input.content.0.input_text.text",
        ),
        ({"type": "threads.delete", "params": None}, "params"),
        ({"message": 5}, "message"),
        ({"message": "hi", "thread_id": 7}, "thread_id"),
        ({"message": None}, "message"),
    ],
)
async def test_wrong_types_are_422_with_their_location(
    bare_http: httpx.AsyncClient, body: dict[str, Any], location: str
) -> None:
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (422, "invalid_request")
    assert f"{location}: " in error.detail


async def test_body_with_neither_type_nor_message_is_422_saying_what_is_expected(
    bare_http: httpx.AsyncClient,
) -> None:
    error = await _post(bare_http, {"text": "hi"})
    assert (error.status, error.error) == (422, "invalid_request")
    assert "'type'" in error.detail
    assert "'message'" in error.detail


@pytest.mark.parametrize("message", ["", " ", "\n\t  \r\n"])
async def test_empty_simple_message_is_422_empty_message(
    bare_http: httpx.AsyncClient, message: str
) -> None:
    error = await _post(bare_http, {"message": message})
    assert (error.status, error.error) == (422, "empty_message")


@pytest.mark.parametrize(
    "content",
    [[], [{"type": "input_text", "text": "   "}], [{"type": "input_text", "text": ""}]],
)
async def test_empty_chatkit_message_is_422_empty_message(
    bare_http: httpx.AsyncClient, content: list[dict[str, str]]
) -> None:
    body = {
        "type": "threads.add_user_message",
        "params": {
            "thread_id": "thr_1",
            "input": {**_user_input(), "content": content},
        },
    }
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (422, "empty_message")
    assert "params.input.content" in error.detail


@pytest.mark.parametrize("attachment_id", ["../x", "atc_1/upload", "a b", ""])
async def test_attachment_ids_that_could_change_the_storage_path_are_422(
    bare_http: httpx.AsyncClient, attachment_id: str
) -> None:
    body = {
        "type": "threads.create",
        "params": {"input": _user_input(attachments=[attachment_id])},
    }
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (422, "invalid_request")
    assert "params.input.attachments" in error.detail


async def test_message_with_attachments_but_no_text_passes_validation(
    bare_http: httpx.AsyncClient,
) -> None:
    input_ = {**_user_input(" "), "attachments": ["atc_1"]}
    response = await bare_http.post(
        "/chatkit",
        json={"type": "threads.create", "params": {"input": input_}},
        headers=auth_headers("u1"),
    )
    # Past validation: the bare gateway then fails to reach history for atc_1.
    assert response.status_code == 503, response.text
    assert ErrorBody.model_validate_json(response.content).error == (
        "history_unavailable"
    )


@pytest.mark.parametrize("thread_id", ["../tasks", "thr_1/items/x", "a?b=c", "a b"])
async def test_ids_that_could_change_the_storage_path_are_422(
    bare_http: httpx.AsyncClient, thread_id: str
) -> None:
    chatkit = {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
    for body in (chatkit, {"message": "hi", "thread_id": thread_id}):
        error = await _post(bare_http, body)
        assert (error.status, error.error) == (422, "invalid_request")
        assert "thread_id" in error.detail


async def test_body_over_the_limit_with_content_length_is_413(
    bare_http: httpx.AsyncClient,
) -> None:
    error = await _post(bare_http, {"message": "x" * BODY_LIMIT})
    assert (error.status, error.error) == (413, "body_too_large")
    assert str(BODY_LIMIT) in error.detail


async def test_body_over_the_limit_without_content_length_is_413(
    bare_http: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"message": "'
        for _ in range(BODY_LIMIT // 512 + 2):
            yield b"y" * 512
        yield b'"}'

    request = bare_http.build_request(
        "POST", "/chatkit", content=chunks(), headers=auth_headers("u1")
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await bare_http.send(request)
    assert response.status_code == 413, response.text
    assert ErrorBody.model_validate_json(response.content).error == "body_too_large"


async def test_body_just_under_the_limit_is_not_refused_for_size(
    bare_http: httpx.AsyncClient,
) -> None:
    # Whitespace-only message of nearly the limit: refused as empty, not as large.
    body = orjson.dumps({"message": " " * (BODY_LIMIT - 20)})
    assert len(body) <= BODY_LIMIT
    error = await _post(bare_http, body)
    assert error.error == "empty_message"


REFUSED_BEFORE_STORAGE: list[tuple[str, dict[str, Any], int, str]] = [
    ("items.feedback", {"thread_id": "t", "item_ids": [], "kind": "positive"},
     422, "invalid_request"),
    ("items.feedback", {"thread_id": "t", "item_ids": ["m"] * 101, "kind": "negative"},
     422, "invalid_request"),
    ("items.feedback", {"thread_id": "t", "item_ids": ["../m"], "kind": "positive"},
     422, "invalid_request"),
    ("attachments.create", {"name": "a.png", "size": 10**9, "mime_type": "image/png"},
     413, "attachment_too_large"),
    ("attachments.create", {"name": "a.svg", "size": 3, "mime_type": "image/svg+xml"},
     415, "unsupported_media_type"),
    ("attachments.create", {"name": "a.exe", "size": 3, "mime_type": "app/x-exe"},
     415, "unsupported_media_type"),
    ("attachments.create", {"name": "a.png", "size": -1, "mime_type": "image/png"},
     422, "invalid_request"),
    ("attachments.create", {"name": " ", "size": 3, "mime_type": "image/png"},
     422, "invalid_request"),
    ("attachments.create", {"name": "n" * 256, "size": 3, "mime_type": "text/plain"},
     422, "invalid_request"),
    ("input.transcribe", {"audio_base64": "AAAA", "mime_type": "image/png"},
     415, "unsupported_media_type"),
    ("input.transcribe", {"audio_base64": "not base64!", "mime_type": "audio/webm"},
     422, "invalid_audio"),
    ("input.transcribe", {"audio_base64": "", "mime_type": "audio/webm"},
     422, "invalid_audio"),
    ("input.transcribe", {"audio_base64": base64.b64encode(b"a" * 8193).decode(),
     "mime_type": "audio/webm"}, 413, "audio_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(("op", "params", "status", "code"), REFUSED_BEFORE_STORAGE)
async def test_json_op_input_over_limits_or_malformed_is_a_4xx_before_storage(
    bare_http: httpx.AsyncClient,
    op: str,
    params: dict[str, Any],
    status: int,
    code: str,
) -> None:
    body = {"type": op, "params": params}
    CHATKIT_REQUEST.validate_python(body)  # a well-formed request of that op
    error = await _post(bare_http, body)
    assert (error.status, error.error) == (status, code)


async def test_transcribe_body_may_exceed_the_json_body_limit(
    bare_http: httpx.AsyncClient,
) -> None:
    audio = base64.b64encode(b"\x1aE\xdf\xa3" * 1500).decode()  # 6000 bytes
    body = {
        "type": "input.transcribe",
        "params": {"audio_base64": audio, "mime_type": "audio/webm;codecs=opus"},
    }
    assert len(orjson.dumps(body)) > BODY_LIMIT
    response = await bare_http.post("/chatkit", json=body, headers=auth_headers("u1"))
    # Not refused for size: enqueued, and no worker serves the bare gateway.
    assert response.status_code == 504, response.text
    assert ErrorBody.model_validate_json(response.content).error == "worker_timeout"


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "threads.create", "params": {"input": {"content": [{"type": 1}]}}}',
        b'{"type": "threads.list", "params": {"limit": 1e999}}',
        b'{"type": "threads.list", "params": {"limit": 99999999999999999999999}}',
        b'{"message": {"nested": [1, 2, {"deep": true}]}}',
        b'{"message": "hi", "thread_id": ""}',
        b'{"type": {"a": 1}}',
        b"[" * 2000 + b"]" * 2000,
        b'{"type": "threads.update", "params": {"thread_id": "t", "title": null}}',
    ],
)
async def test_odd_bodies_are_refused_with_a_4xx_never_a_500(
    bare_http: httpx.AsyncClient, body: bytes
) -> None:
    await _post(bare_http, body)


def test_simple_body_parses_to_simple_request() -> None:
    parsed = parse_request(b'{"message": "hi", "thread_id": "thr_1"}')
    assert parsed == SimpleReq(message="hi", thread_id="thr_1")


def test_chatkit_body_parses_to_its_sdk_type() -> None:
    body = orjson.dumps({"type": "threads.create", "params": {"input": _user_input()}})
    assert parse_request(body) == CHATKIT_REQUEST.validate_json(body)
