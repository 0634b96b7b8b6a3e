import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from gateway.auth import User, verify_token
from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from shared.history_api import ErrorBody
from testkit.tokens import TEST_JWT_SECRET, auth_headers, jwt_for

SettingsFactory = Callable[..., GatewaySettings]

PROTECTED = [
    ("POST", "/chatkit"),
    ("GET", "/api/conversations"),
    ("GET", "/api/conversations/thr_1"),
    ("DELETE", "/api/conversations/thr_1"),
]


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned_token(claims: dict[str, object]) -> str:
    """A token with ``alg: none`` and no signature, as an attacker would send."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _future_exp() -> int:
    return int((datetime.now(UTC) + timedelta(hours=1)).timestamp())


async def _assert_401(response: httpx.Response, error: str) -> ErrorBody:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = ErrorBody.model_validate_json(response.content)
    assert body.error == error
    assert body.detail
    return body


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_missing_authorization_is_401_json_on_every_protected_route(
    bare_http: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await bare_http.request(method, path, json={"message": "hi"})
    await _assert_401(response, "missing_token")


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "bearer not.a.jwt", "Bearer a b"],
)
async def test_malformed_authorization_header_is_401_invalid_token(
    bare_http: httpx.AsyncClient, header: str
) -> None:
    response = await bare_http.post(
        "/chatkit", json={"message": "hi"}, headers={"Authorization": header}
    )
    await _assert_401(response, "invalid_token")


async def test_token_signed_with_another_secret_is_401(
    bare_http: httpx.AsyncClient,
) -> None:
    token = jwt_for("u1", secret="another-secret-of-sufficient-length-0123456789")
    response = await bare_http.post(
        "/chatkit", json={"message": "hi"}, headers={"Authorization": f"Bearer {token}"}
    )
    body = await _assert_401(response, "invalid_token")
    assert "signature" in body.detail


async def test_expired_token_is_401_token_expired(bare_http: httpx.AsyncClient) -> None:
    token = jwt_for("u1", expires_in=timedelta(minutes=-5))
    response = await bare_http.post(
        "/chatkit", json={"message": "hi"}, headers={"Authorization": f"Bearer {token}"}
    )
    await _assert_401(response, "token_expired")


async def test_token_without_exp_is_401_naming_the_claim(
    bare_http: httpx.AsyncClient,
) -> None:
    token = jwt.encode({"sub": "u1"}, TEST_JWT_SECRET, algorithm="HS256")
    response = await bare_http.post(
        "/chatkit", json={"message": "hi"}, headers={"Authorization": f"Bearer {token}"}
    )
    body = await _assert_401(response, "invalid_token")
    assert "'exp'" in body.detail


async def test_token_without_sub_is_401(bare_http: httpx.AsyncClient) -> None:
    claims = {"exp": _future_exp()}
    token = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    response = await bare_http.post(
        "/chatkit", json={"message": "hi"}, headers={"Authorization": f"Bearer {token}"}
    )
    body = await _assert_401(response, "invalid_token")
    assert "'sub'" in body.detail


async def test_alg_none_token_is_401_even_with_valid_claims(
    bare_http: httpx.AsyncClient,
) -> None:
    token = _unsigned_token({"sub": "u1", "exp": _future_exp()})
    response = await bare_http.post(
        "/chatkit", json={"message": "hi"}, headers={"Authorization": f"Bearer {token}"}
    )
    await _assert_401(response, "invalid_token")


async def test_valid_token_passes_auth_and_reaches_validation(
    bare_http: httpx.AsyncClient,
) -> None:
    # The body is refused by validation (422), which runs only after auth passed.
    response = await bare_http.post(
        "/chatkit", json={"message": "   "}, headers=auth_headers("u1")
    )
    assert response.status_code == 422, response.text


async def test_health_routes_need_no_token(bare_http: httpx.AsyncClient) -> None:
    response = await bare_http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_user_id_is_the_sub_claim(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    assert verify_token(jwt_for("user-42"), settings) == User(id="user-42")


def test_better_auth_secret_alias_configures_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "better-auth-secret-for-the-alias-test-0123456789"
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("BETTER_AUTH_SECRET", secret)
    monkeypatch.setenv("ENV", "test")
    settings = GatewaySettings(_env_file=None)
    assert settings.jwt_secret.get_secret_value() == secret
    assert verify_token(jwt_for("u7", secret=secret), settings) == User(id="u7")


def test_audience_and_issuer_are_checked_when_configured(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(jwt_audience="chat", jwt_issuer="https://auth.example")
    good = jwt_for("u1", aud="chat", iss="https://auth.example")
    assert verify_token(good, settings).id == "u1"
    for claims in ({"aud": "other", "iss": "https://auth.example"}, {"aud": "chat"}):
        token = jwt.encode(
            {"sub": "u1", "exp": _future_exp(), **claims},
            TEST_JWT_SECRET,
            algorithm="HS256",
        )
        with pytest.raises(ApiError) as refused:
            verify_token(token, settings)
        assert refused.value.status == 401


def test_token_with_an_audience_passes_when_none_is_configured(
    make_settings: SettingsFactory,
) -> None:
    # better-auth and others put an `aud` in tokens; unset JWT_AUDIENCE ignores it.
    assert verify_token(jwt_for("u1", aud="anything"), make_settings()).id == "u1"
