"""The readiness probe's query."""

from history.db import Executor


async def ping(db: Executor) -> None:
    """One round trip to PostgreSQL."""
    await db.fetchval("SELECT 1")
