"""create_app(settings): the history service's FastAPI application."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from fastapi import APIRouter, Depends, FastAPI

from history.db import create_pool
from history.deps import State, token_check
from history.errors import install_error_handlers
from history.routes import attachments, feedback, health, items, runs, tasks, threads
from history.settings import HistorySettings

log = structlog.get_logger(__name__)

API_PREFIX = "/v1"


def _lifespan(
    settings: HistorySettings,
) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        pool = await create_pool(settings)
        log.info("database pool open", size_max=settings.history_pool_max)
        try:
            yield State(pool=pool, settings=settings)
        finally:
            await pool.close()
            log.info("database pool closed")

    return lifespan


def _api_router(settings: HistorySettings) -> APIRouter:
    dependencies = (
        [Depends(token_check(settings.internal_token))]
        if settings.internal_token
        else []
    )
    api = APIRouter(prefix=API_PREFIX, dependencies=dependencies)
    for module in (threads, items, feedback, attachments, runs, tasks):
        api.include_router(module.router)
    return api


def create_app(settings: HistorySettings) -> FastAPI:
    """The app: typed lifespan state (the pool), routers, JSON error answers."""
    app = FastAPI(
        title="history",
        summary="Internal API over the ChatKit conversation store",
        lifespan=_lifespan(settings),
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(_api_router(settings))
    return app
