"""``/healthz`` (the process answers) and ``/readyz`` (PostgreSQL answers too)."""

import asyncio

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from history.deps import PoolDep
from history.store import health

router = APIRouter(tags=["health"])

# Short: a probe must not hang on a saturated pool or a dead server.
READY_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(pool: PoolDep) -> JSONResponse:
    """PostgreSQL answers a query through the pool."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await health.ping(pool)
    except (
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as exc:
        body = {"status": "unavailable", "detail": type(exc).__name__}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})
