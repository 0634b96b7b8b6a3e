"""The asyncpg pool history serves from, with JSON codecs for ``jsonb``."""

from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from history.settings import HistorySettings

APPLICATION_NAME = "history"

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
)
Executor: TypeAlias = "Pool | Connection"
"""Anything that runs a statement: the pool itself or one acquired connection."""


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: "asyncpg.Connection[asyncpg.Record]") -> None:
    """Make ``jsonb`` columns read and write plain Python values."""
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_json,
        decoder=orjson.loads,
        schema="pg_catalog",
        format="text",
    )


async def keep_session(conn: "asyncpg.Connection[asyncpg.Record]") -> None:
    """Pool ``reset``: nothing to undo, so no reset query on every release.

    history sets no session state (no SET, LISTEN, advisory lock or cursor);
    asyncpg still rolls back a transaction left open before calling this.
    The default reset costs a round trip to PostgreSQL per request.
    """


async def create_pool(settings: HistorySettings) -> Pool:
    """A pool named for its holder, with a statement timeout and the JSON codec."""
    timeout_ms = int(settings.history_statement_timeout_s * 1000)
    return await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.history_pool_min,
        max_size=settings.history_pool_max,
        init=init_connection,
        reset=keep_session,
        server_settings={
            "application_name": APPLICATION_NAME,
            "statement_timeout": str(timeout_ms),
        },
    )
