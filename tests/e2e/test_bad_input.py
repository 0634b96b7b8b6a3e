"""Auth failures and malformed requests: a clear 4xx JSON error, never a 500."""

import time

import httpx
import jwt
import pytest

from testkit.tokens import TEST_JWT_SECRET, auth_headers, jwt_for

HI = {"content": [{"type": "input_text", "text": "hi"}]}
USER_INPUT = {**HI, "attachments": [], "inference_options": {}}


def expired_token() -> str:
    claims = {"sub": "u1", "exp": int(time.time()) - 60}
    return jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("missing", {}),
        ("not bearer", {"Authorization": "Basic dTpw"}),
        ("garbage", {"Authorization": "Bearer not.a.jwt"}),
        (
            "bad signature",
            {"Authorization": f"Bearer {jwt_for('u1', secret='x' * 32)}"},
        ),
        ("expired", {"Authorization": f"Bearer {expired_token()}"}),
        (
            "no exp",
            {"Authorization": "Bearer " + jwt.encode({"sub": "u1"}, TEST_JWT_SECRET)},
        ),
    ],
)
@pytest.mark.parametrize("path", ["/chatkit", "/api/conversations"])
async def test_requests_without_a_valid_token_get_401_json(
    http: httpx.AsyncClient, case: str, headers: dict[str, str], path: str
) -> None:
    if path == "/chatkit":
        response = await http.post(path, json={"message": "hi"}, headers=headers)
    else:
        response = await http.get(path, headers=headers)
    assert response.status_code == 401, case
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"{not json", 400, "JSON"),
        (b"[1, 2]", 400, "object"),
        (b'{"type": "threads.explode", "params": {}}', 400, "threads.explode"),
        (b'{"type": "threads.create", "params": {}}', 422, "input"),
        (
            b'{"type": "threads.get_by_id", "params": {"thread_id": 5}}',
            422,
            "thread_id",
        ),
        (b'{"message": ""}', 422, "message"),
        (b'{"message": "   "}', 422, "message"),
        (b'{"message": 42}', 422, "message"),
        (b"{}", 422, ""),
    ],
)
async def test_malformed_bodies_get_a_4xx_naming_the_problem(
    http: httpx.AsyncClient, body: bytes, status: int, named: str
) -> None:
    response = await http.post(
        "/chatkit",
        content=body,
        headers={**auth_headers("bad-input"), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"]
    assert named in response.text


async def test_empty_chatkit_message_is_refused_before_anything_is_stored(
    http: httpx.AsyncClient,
) -> None:
    headers = auth_headers("bad-input-empty")
    empty = {"content": [{"type": "input_text", "text": "  "}]}
    body = {
        "type": "threads.create",
        "params": {"input": {**empty, "attachments": [], "inference_options": {}}},
    }
    response = await http.post("/chatkit", json=body, headers=headers)
    assert response.status_code == 422
    listed = (await http.get("/api/conversations", headers=headers)).json()
    assert listed["data"] == []


async def test_oversize_body_is_refused_with_413(http: httpx.AsyncClient) -> None:
    big = {"message": "x" * (2 * 1024 * 1024)}
    response = await http.post("/chatkit", json=big, headers=auth_headers("big"))
    assert response.status_code == 413
    assert response.json()["error"]


async def test_unknown_thread_is_404_before_the_stream_starts(
    http: httpx.AsyncClient,
) -> None:
    body = {
        "type": "threads.add_user_message",
        "params": {"thread_id": "thr_missing", "input": USER_INPUT},
    }
    response = await http.post("/chatkit", json=body, headers=auth_headers("u-404"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
