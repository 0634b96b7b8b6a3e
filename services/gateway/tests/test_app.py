from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.settings import GatewaySettings

ALLOWED = "https://app.example"


@pytest.fixture(scope="module")
def cors_gateway_url(
    redis_url: str,
    queue_name: str,
    make_settings: Callable[..., GatewaySettings],
    serve_app: Callable[[FastAPI], AbstractContextManager[str]],
) -> Iterator[str]:
    settings = make_settings(
        redis_url=redis_url, queue_name=queue_name, cors_origins=[ALLOWED]
    )
    with serve_app(create_app(settings)) as url:
        yield url


async def test_preflight_from_an_allowed_origin_is_answered_with_credentials(
    cors_gateway_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=cors_gateway_url) as http:
        response = await http.options(
            "/chatkit",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_other_origins_get_no_cors_headers(cors_gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=cors_gateway_url) as http:
        response = await http.get(
            "/healthz", headers={"Origin": "https://evil.example"}
        )
        allowed = await http.get("/healthz", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "x-thread-id" in allowed.headers["access-control-expose-headers"].lower()


async def _client_names(redis_url: str) -> Counter[str]:
    redis = Redis.from_url(redis_url)
    try:
        return Counter(client["name"] for client in await redis.client_list())
    finally:
        await redis.aclose()


async def test_redis_connections_are_named_for_their_holder(
    redis_url: str,
    queue_name: str,
    make_settings: Callable[..., GatewaySettings],
    serve_app: Callable[[FastAPI], AbstractContextManager[str]],
) -> None:
    before = await _client_names(redis_url)
    settings = make_settings(redis_url=redis_url, queue_name=queue_name)
    with serve_app(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            await http.get("/readyz")  # opens the command connection
        during = await _client_names(redis_url)
    assert during["gateway"] == before["gateway"] + 1
    assert during["gateway.relay"] == before["gateway.relay"] + 1
