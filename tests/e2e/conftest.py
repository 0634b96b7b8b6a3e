"""The whole stack as real processes: history, gateway and workers on the fake model.

``stack`` serves most tests (Responses API, one worker). ``model_path_gateway``
adds, per model path, a gateway and a worker on a queue of their own that share
the same history, so the three model paths run against one database.
"""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from testkit.chatkit_client import ChatKitClient
from testkit.services import (
    Stack,
    running_stack,
    shared_settings,
    start_gateway,
    start_worker,
)
from testkit.tokens import jwt_for

MODEL_PATHS = {
    "responses": {"MODEL_API": "responses", "MODEL": "fake-model"},
    "chat_completions": {"MODEL_API": "chat_completions", "MODEL": "fake-model"},
    "litellm": {"MODEL_API": "chat_completions", "MODEL": "litellm/openai/fake-model"},
}

ClientFactory = Callable[[str], ChatKitClient]


@pytest.fixture(scope="session")
def stack(
    pg_dsn: str,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[Stack]:
    """history + gateway + one worker (Responses API) for the whole session."""
    with running_stack(
        database_url=pg_dsn,
        redis_url=redis_url,
        queue_name=queue_name,
        model_base_url=fake_model,
        log_dir=service_log_dir / "stack",
        attachments_dir=attachments_dir,
    ) as running:
        yield running


@pytest.fixture(scope="session", params=sorted(MODEL_PATHS))
def model_path_gateway(
    request: pytest.FixtureRequest,
    stack: Stack,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[str]:
    """URL of a gateway whose worker reaches the fake model through one path."""
    path: str = request.param
    queue = f"{queue_name}-{path}"
    log_dir = service_log_dir / f"path-{path}"
    common = shared_settings(attachments_dir)
    gateway = start_gateway(
        history_url=stack.history.url,
        redis_url=redis_url,
        queue_name=queue,
        log_dir=log_dir,
        settings=common,
        name=f"gateway-{path}",
    )
    worker = None
    try:
        worker = start_worker(
            history_url=stack.history.url,
            redis_url=redis_url,
            queue_name=queue,
            model_base_url=fake_model,
            log_dir=log_dir,
            model_api=MODEL_PATHS[path]["MODEL_API"],
            model=MODEL_PATHS[path]["MODEL"],
            settings=common,
            name=f"worker-{path}",
        )
        yield gateway.url
    finally:
        if worker is not None:
            worker.stop()
        gateway.process.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the main stack's gateway."""
    async with httpx.AsyncClient(base_url=stack.gateway.url) as client:
        yield client


@pytest.fixture
def client_for(http: httpx.AsyncClient) -> ClientFactory:
    """``client_for(user_id)``: a ChatKit client of the main gateway as that user."""
    return lambda user_id: ChatKitClient(http, jwt_for(user_id))


@pytest.fixture
def user_id() -> str:
    """A user of this test alone."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def marker() -> str:
    """A word unique to this test, to find its requests at the fake model."""
    return uuid.uuid4().hex[:10]
