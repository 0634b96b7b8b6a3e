"""FastAPI dependencies of the internal API: the pool, the user, the token check."""

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, TypedDict

from fastapi import Depends, Header, Path, Request

from history.db import Pool
from history.errors import ApiError
from history.settings import HistorySettings
from shared.history_api import TOKEN_HEADER, USER_HEADER


class State(TypedDict):
    """What the lifespan hands to every request."""

    pool: Pool
    settings: HistorySettings


# Dependencies are coroutines: FastAPI runs a plain function in its thread pool,
# a thread hop on every request.
async def _pool(request: Request) -> Pool:
    pool: Pool = request.state.pool
    return pool


async def _settings(request: Request) -> HistorySettings:
    settings: HistorySettings = request.state.settings
    return settings


PoolDep = Annotated[Pool, Depends(_pool)]
SettingsDep = Annotated[HistorySettings, Depends(_settings)]

# Ours are a prefix and 32 hex digits; the bound keeps any id well inside
# PostgreSQL's index row size, so an absurd id is a 422, not a 500.
MAX_ID_LENGTH = 200

IdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
"""A thread, item, attachment, run or task id in the URL."""


def check_id(value: str, field: str) -> None:
    """Refuse an id in a body that a path could not carry."""
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        detail = f"{field} must be 1..{MAX_ID_LENGTH} characters"
        raise ApiError(422, "invalid_id", detail)


UserId = Annotated[
    str,
    Header(alias=USER_HEADER, min_length=1, max_length=MAX_ID_LENGTH),
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
