"""FastAPI dependencies of the internal API: the pool, the user, the token check."""

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, TypedDict

from fastapi import Depends, Header, Request

from history.db import Pool
from history.errors import ApiError
from shared.history_api import TOKEN_HEADER, USER_HEADER


class State(TypedDict):
    """What the lifespan hands to every request."""

    pool: Pool


def _pool(request: Request) -> Pool:
    pool: Pool = request.state.pool
    return pool


PoolDep = Annotated[Pool, Depends(_pool)]

UserId = Annotated[
    str,
    Header(alias=USER_HEADER, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$"),
]
"""The user every call is scoped to (the gateway verified who it is)."""


def token_check(expected: str) -> Callable[[str | None], Awaitable[None]]:
    """A dependency refusing calls without ``expected`` in ``X-Internal-Token``."""

    async def check(
        token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None,
    ) -> None:
        if not hmac.compare_digest((token or "").encode(), expected.encode()):
            raise ApiError(401, "unauthorized", f"{TOKEN_HEADER} is missing or wrong")

    return check
