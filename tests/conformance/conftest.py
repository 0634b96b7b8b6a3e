"""Two targets for every conformance test: our stack and the SDK's reference server.

``target`` is parametrized ``ours`` / ``reference``: the same test sends the same
requests to both. ``ours`` is the full stack (history, gateway, one worker) on a
queue of its own; ``reference`` is ``testkit.reference_app`` (the official
``ChatKitServer``, in-memory store) running the worker's default agent app on the
same scripted model. Each target starts only when a test asks for it.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from testkit.chatkit_client import ChatKitClient
from testkit.services import Service, Stack, running_stack, start_reference_app
from testkit.tokens import jwt_for

from .targets import Target


@pytest.fixture(scope="session")
def ours_stack(
    pg_dsn: str,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[Stack]:
    """history + gateway + one worker (Responses API) on the conformance queue."""
    with running_stack(
        database_url=pg_dsn,
        redis_url=redis_url,
        queue_name=f"{queue_name}-conformance",
        model_base_url=fake_model,
        log_dir=service_log_dir / "conformance",
        attachments_dir=attachments_dir,
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def reference_app(
    history_url: str, fake_model: str, service_log_dir: Path
) -> Iterator[Service]:
    """The reference ChatKitServer app; history only keeps the agent's tasks."""
    service = start_reference_app(
        history_url=history_url,
        model_base_url=fake_model,
        log_dir=service_log_dir / "reference",
    )
    try:
        yield service
    finally:
        service.process.stop()


@pytest.fixture(scope="session", params=["ours", "reference"])
def target(request: pytest.FixtureRequest) -> Target:
    """The server under test."""
    if request.param == "ours":
        stack: Stack = request.getfixturevalue("ours_stack")
        return Target("ours", stack.gateway.url)
    service: Service = request.getfixturevalue("reference_app")
    return Target("reference", service.url)


@pytest.fixture
async def http(target: Target) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the target."""
    async with httpx.AsyncClient(base_url=target.url) as client:
        yield client


@pytest.fixture
def user_id() -> str:
    """A user of this test alone."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def client(http: httpx.AsyncClient, user_id: str) -> ChatKitClient:
    """The test's user, talking ChatKit to the target."""
    return ChatKitClient(http, jwt_for(user_id))


@pytest.fixture
def intruder(http: httpx.AsyncClient) -> ChatKitClient:
    """Another user of the same target, who must see none of ``client``'s data."""
    return ChatKitClient(http, jwt_for(f"intruder-{uuid.uuid4().hex[:12]}"))
