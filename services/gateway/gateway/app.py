"""create_app(settings): lifespan State (history, Redis, arq pool, relay), routes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import structlog
from arq.connections import ArqRedis
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import ConnectionPool, Redis

from gateway.errors import install_error_handlers
from gateway.relay import Relay
from gateway.request_context import RequestContextMiddleware
from gateway.routes import (
    attachments,
    browser_helper,
    chatkit,
    conversations,
    health,
    runs,
)
from gateway.settings import GatewaySettings
from gateway.state import State
from gateway.upload_links import LinkSigner
from shared.attachment_blobs import open_blobs
from shared.history_client import HistoryClient

log = structlog.get_logger(__name__)

REDIS_TIMEOUT_S = 5.0


def _arq_pool(settings: GatewaySettings) -> ArqRedis:
    # Built by hand rather than arq.create_pool(): that one retries for seconds
    # at startup and cannot name its connections.
    pool = ConnectionPool.from_url(
        settings.redis_url,
        client_name="gateway.arq",
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )
    return ArqRedis(
        pool,
        # The worker decodes jobs with json.loads: never arq's pickle default.
        job_serializer=orjson.dumps,
        job_deserializer=orjson.loads,
        default_queue_name=settings.queue_name,
    )


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway ASGI app; every shared client is opened once in its lifespan."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        history = HistoryClient(
            settings.history_url, internal_token=settings.internal_token
        )
        redis: Redis = Redis.from_url(
            settings.redis_url,
            client_name="gateway",
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        arq = _arq_pool(settings)
        relay = Relay(settings.redis_url)
        await relay.start()
        links = LinkSigner(
            settings.jwt_secret.get_secret_value(), settings.gateway_upload_link_ttl_s
        )
        log.info("gateway_started", queue=settings.queue_name)
        try:
            yield State(
                settings=settings,
                history=history,
                redis=redis,
                arq=arq,
                relay=relay,
                blobs=open_blobs(settings),
                links=links,
            )
        finally:
            await relay.stop()
            await arq.aclose(close_connection_pool=True)
            await redis.aclose()
            await history.aclose()

    app = FastAPI(
        title="ChatKit gateway",
        summary="Self-hosted ChatKit backend: auth, validation, runs, SSE relay",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["X-Thread-Id", "X-Run-Id", "X-Request-Id"],
        )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(chatkit.router)
    app.include_router(runs.router)
    app.include_router(browser_helper.router)
    app.include_router(conversations.router)
    app.include_router(attachments.router)
    app.include_router(health.router)
    return app
