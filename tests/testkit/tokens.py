"""Bearer tokens for tests, signed like the frontend's auth server would sign them."""

from datetime import UTC, datetime, timedelta

import jwt

# HS256 wants at least 32 bytes of key; PyJWT warns (an error under pytest) below.
TEST_JWT_SECRET = "testkit-jwt-secret-not-for-production-0123456789abcdef"


def jwt_for(
    user_id: str,
    *,
    secret: str = TEST_JWT_SECRET,
    expires_in: timedelta = timedelta(hours=1),
    **claims: object,
) -> str:
    """An HS256 token for ``user_id`` (``sub``); negative ``expires_in`` = expired."""
    now = datetime.now(UTC)
    payload: dict[str, object] = {
        "sub": user_id,
        "iat": now,
        "exp": now + expires_in,
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def auth_headers(user_id: str, *, secret: str = TEST_JWT_SECRET) -> dict[str, str]:
    """``Authorization: Bearer ...`` for ``user_id``."""
    return {"Authorization": f"Bearer {jwt_for(user_id, secret=secret)}"}
