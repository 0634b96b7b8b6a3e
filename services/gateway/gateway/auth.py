"""Bearer JWT (HS256) -> User(id=sub); the ``CurrentUser`` dependency."""

from dataclasses import dataclass
from typing import Annotated, Any

import jwt
import structlog
from fastapi import Depends, Request

from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from gateway.state import app_state

ALGORITHMS = ["HS256"]
"""Only HMAC: a token naming ``none`` or an RSA algorithm is refused outright."""


@dataclass(frozen=True)
class User:
    """The authenticated caller; ``id`` is the token's ``sub``."""

    id: str


def _unauthorized(error: str, detail: str) -> ApiError:
    challenge = f'Bearer error="invalid_token", error_description="{detail}"'
    if error == "missing_token":
        challenge = 'Bearer realm="chatkit"'
    return ApiError(401, error, detail, {"WWW-Authenticate": challenge})


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        raise _unauthorized("missing_token", "Authorization: Bearer <token> required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(
            "invalid_token", "Authorization header must be 'Bearer <token>'"
        )
    return token.strip()


def verify_token(token: str, settings: GatewaySettings) -> User:
    """Check signature, ``exp`` and the optional ``aud``/``iss``; return the user."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": ["exp", "sub"],
                "verify_aud": settings.jwt_audience is not None,
            },
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", "the token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        detail = f"the token has no '{exc.claim}' claim"
        raise _unauthorized("invalid_token", detail) from None
    except jwt.InvalidTokenError as exc:
        raise _unauthorized("invalid_token", _reason(exc)) from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip():
        raise _unauthorized("invalid_token", "the token's 'sub' must be a user id")
    return User(id=subject)


def _reason(exc: jwt.InvalidTokenError) -> str:
    match exc:
        case jwt.InvalidSignatureError():
            return "the token's signature does not verify"
        case jwt.InvalidAlgorithmError():
            return "the token's algorithm is not allowed"
        case jwt.InvalidAudienceError():
            return "the token's audience is not accepted"
        case jwt.InvalidIssuerError():
            return "the token's issuer is not accepted"
        case jwt.ImmatureSignatureError():
            return "the token is not valid yet"
        case jwt.DecodeError():
            return "the token is malformed"
        case _:
            return "the token is not valid"


async def current_user(request: Request) -> User:
    """FastAPI dependency: the verified caller, or a 401 JSON error."""
    user = verify_token(
        bearer_token(request.headers.get("authorization")),
        app_state(request)["settings"],
    )
    structlog.contextvars.bind_contextvars(user_id=user.id)
    return user


CurrentUser = Annotated[User, Depends(current_user)]
