"""Gateway test fixtures: the real app served by uvicorn on a free port.

Redis and (where a test asks for it) history are the real ones from the
testkit plugin; nothing of ours is mocked.
"""

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.history_client import HistoryClient
from testkit.processes import free_port
from testkit.tokens import TEST_JWT_SECRET

from .worker_double import WorkerDouble

UNREACHABLE_HISTORY = "http://127.0.0.1:9"
"""For tests whose requests must be refused before history is ever asked."""
SMALL_BODY_LIMIT = 4096
FAST_KEEPALIVE_S = 0.2
TEST_ATTACHMENT_LIMIT = 64 * 1024
"""GATEWAY_ATTACHMENT_MAX_BYTES of the test gateways."""
BARE_TRANSCRIBE_LIMIT = 8192
"""GATEWAY_TRANSCRIBE_MAX_BYTES of the bare gateway."""
BARE_SYNC_TIMEOUT_S = 0.3
"""No worker serves the bare gateway: its short jobs time out quickly."""


def gateway_settings(**values: Any) -> GatewaySettings:
    """Settings for a test gateway, independent of the developer's environment."""
    defaults: dict[str, Any] = {
        "env": "test",
        "jwt_secret": TEST_JWT_SECRET,
        "jwt_audience": None,
        "jwt_issuer": None,
        "cors_origins": [],
        "internal_token": "",
    }
    return GatewaySettings(_env_file=None, **(defaults | values))


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread (its own event loop); yield its URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def make_settings() -> Callable[..., GatewaySettings]:
    """Build test settings (tests cannot import conftest under importlib mode)."""
    return gateway_settings


@pytest.fixture(scope="session")
def serve_app() -> Callable[[FastAPI], contextlib.AbstractContextManager[str]]:
    """``serve`` for test modules that need a gateway of their own."""
    return serve


@pytest.fixture(scope="session")
def gateway_queue(queue_name: str) -> str:
    """Our own queue (same key prefix, so cleaned up with the session's keys).

    The tests play the worker; a real worker of another suite on the shared
    queue must not take our jobs.
    """
    return f"{queue_name}:gateway"


@pytest.fixture(scope="session")
def attachments_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ATTACHMENTS_DIR of the test gateways (never the developer's .data)."""
    return tmp_path_factory.mktemp("attachments")


@pytest.fixture(scope="session")
def bare_gateway_url(
    redis_url: str, gateway_queue: str, attachments_dir: Path
) -> Iterator[str]:
    """A gateway whose history is unreachable: for input refused before storage."""
    settings = gateway_settings(
        redis_url=redis_url,
        queue_name=gateway_queue,
        history_url=UNREACHABLE_HISTORY,
        gateway_max_body_bytes=SMALL_BODY_LIMIT,
        gateway_attachment_max_bytes=TEST_ATTACHMENT_LIMIT,
        gateway_transcribe_max_bytes=BARE_TRANSCRIBE_LIMIT,
        gateway_sync_job_timeout_s=BARE_SYNC_TIMEOUT_S,
        attachments_dir=attachments_dir,
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def gateway_url(
    redis_url: str, gateway_queue: str, history_url: str, attachments_dir: Path
) -> Iterator[str]:
    """A gateway on the real history service, with fast keepalives."""
    settings = gateway_settings(
        redis_url=redis_url,
        queue_name=gateway_queue,
        history_url=history_url,
        gateway_keepalive_s=FAST_KEEPALIVE_S,
        gateway_attachment_max_bytes=TEST_ATTACHMENT_LIMIT,
        attachments_dir=attachments_dir,
    )
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
async def worker(
    redis_url: str, history_url: str, gateway_queue: str
) -> AsyncIterator[WorkerDouble]:
    """Plays the agent worker for the gateway's jobs (see worker_double)."""
    redis = Redis.from_url(redis_url)
    history = HistoryClient(history_url)
    yield WorkerDouble(redis, history, gateway_queue)
    await history.aclose()
    await redis.aclose()


@pytest.fixture
async def bare_http(bare_gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client of the bare gateway."""
    async with httpx.AsyncClient(base_url=bare_gateway_url, timeout=10) as http:
        yield http


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client of the gateway on real history."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield client
