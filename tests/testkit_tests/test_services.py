"""The testkit starts the real services and talks to them like a client would."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from testkit.chatkit_client import ChatKitClient
from testkit.fake_model import recorded_requests
from testkit.services import Stack, logged_event, running_stack
from testkit.tokens import jwt_for


@pytest.fixture(scope="module")
def stack(
    pg_dsn: str,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    attachments_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    with running_stack(
        database_url=pg_dsn,
        redis_url=redis_url,
        queue_name=queue_name,
        model_base_url=fake_model,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        attachments_dir=attachments_dir,
    ) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[ChatKitClient]:
    async with httpx.AsyncClient(base_url=stack.gateway.url) as http:
        yield ChatKitClient(http, jwt_for("testkit-user"))


async def test_stack_answers_chatkit_create_through_the_scripted_model(
    client: ChatKitClient, fake_model: str
) -> None:
    stream = await client.create_thread("hello testkit")

    assert stream.types[:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert stream.assistant_text() == "Echo: hello testkit (user turns: 1)"
    bodies = [r.body for r in recorded_requests(fake_model)]
    assert any("hello testkit" in str(body) for body in bodies)


async def test_stack_answers_the_simple_format_with_done(client: ChatKitClient) -> None:
    answer = await client.simple("simple hello")

    assert answer.done
    assert answer.thread_id is not None
    assert answer.text() == "Echo: simple hello (user turns: 1)"


def test_stack_workers_logged_ready_and_log_to_files(stack: Stack) -> None:
    worker = stack.workers[0]
    assert logged_event(worker, "worker ready")
    assert Path(worker.log_path).is_file()
    assert stack.gateway.process.alive()


def test_every_service_of_a_stack_shares_one_attachments_dir(
    stack: Stack, attachments_dir: Path
) -> None:
    processes = [stack.history.process, stack.gateway.process, *stack.workers]
    assert stack.attachments_dir == attachments_dir
    assert {p.env["ATTACHMENTS_DIR"] for p in processes} == {str(attachments_dir)}
    assert attachments_dir.is_dir()
