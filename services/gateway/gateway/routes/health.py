"""/healthz (process up), /readyz (Redis, relay and history reachable), /metrics."""

import asyncio

import httpx
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from redis.exceptions import RedisError

from gateway.errors import error_response
from gateway.state import State, StateDep

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_S = 2.0


class Health(BaseModel):
    """Status of the process or of its dependencies."""

    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    """Always ok while the process serves requests."""
    return Health(status="ok")


async def _redis_ok(state: State) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return bool(await state["redis"].ping())
    except (RedisError, OSError, TimeoutError):
        return False


async def _history_ok(state: State) -> bool:
    url = state["settings"].history_url.rstrip("/") + "/readyz"
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@router.get(
    "/readyz",
    response_model=Health,
    summary="Redis, the relay and history are reachable",
    responses={503: {"description": "A dependency is down"}},
)
async def readyz(state: StateDep) -> Response:
    """200 when every dependency answers, else 503 naming the ones that do not."""
    redis_ok, history_ok = await asyncio.gather(_redis_ok(state), _history_ok(state))
    checks = {
        "redis": redis_ok,
        "relay": state["relay"].connected,
        "history": history_ok,
    }
    down = [name for name, ok in checks.items() if not ok]
    if down:
        return error_response(503, "not_ready", f"unreachable: {', '.join(down)}")
    body = Health(status="ready", checks=dict.fromkeys(checks, "ok"))
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    """Requests by op, active streams, events relayed (and process metrics)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
