"""PostgreSQL unreachable for a few seconds: 503 with Retry-After, no done item lost."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatkit.types import ErrorEvent, ThreadGetByIdParams, ThreadsGetByIdReq

from shared.history_api import ErrorBody
from testkit.chatkit_client import add_message_req, create_req
from testkit.chatkit_sse import SseRead, after_text_frames
from testkit.cluster import Cluster, running_cluster
from testkit.infra import postgres_address, with_tcp_address
from testkit.model_script import SLOW_MARKER
from testkit.services import Service, shared_settings, start_history
from testkit.tcp_proxy import TcpProxy, TcpTarget, running_proxy

from .conftest import ActorFactory
from .talk import answer_text, echo, texts_by_type

OUTAGE_S = 3.0


@pytest.fixture(scope="module")
def pg_proxy(pg_dsn: str) -> Iterator[TcpProxy]:
    """A pausable proxy in front of the session's PostgreSQL."""
    with running_proxy(TcpTarget.of(postgres_address(pg_dsn))) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def proxied_history(
    pg_proxy: TcpProxy, pg_dsn: str, service_log_dir: Path, attachments_dir: Path
) -> Iterator[Service]:
    """A history process that reaches PostgreSQL only through the proxy."""
    service = start_history(
        with_tcp_address(pg_dsn, "127.0.0.1", pg_proxy.port),
        service_log_dir / "postgres-outage",
        settings=shared_settings(attachments_dir),
        name="history-proxied",
    )
    try:
        yield service
    finally:
        service.process.stop()


@pytest.fixture(scope="module")
def outage_cluster(
    proxied_history: Service,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[Cluster]:
    """One gateway and one worker on the proxied history."""
    with running_cluster(
        history_url=proxied_history.url,
        redis_url=redis_url,
        queue_name=f"{queue_name}-postgres-outage",
        model_base_url=fake_model,
        log_dir=service_log_dir / "postgres-outage",
        attachments_dir=attachments_dir,
        gateways={"gateway-pg": {}},
        workers={"worker-pg": {}},
    ) as cluster:
        yield cluster


def assert_unavailable(status: int, headers: dict[str, str], body: str) -> None:
    assert status == 503, (status, body)
    assert headers.get("retry-after"), headers
    assert ErrorBody.model_validate_json(body).error


async def test_postgres_outage_answers_503_and_the_run_stores_every_done_item(
    outage_cluster: Cluster, pg_proxy: TcpProxy, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(outage_cluster.gateway_url("gateway-pg"))
    warm_up = await actor.chatkit.create_thread("hello")
    thread_id = warm_up.thread_id
    assert thread_id is not None
    text = f"through the outage {marker} {SLOW_MARKER}"
    read = SseRead()
    streaming = asyncio.create_task(
        actor.chatkit.open(add_message_req(thread_id, text), into=read)
    )
    await read.wait_for(after_text_frames(2), within_s=15, what="two text deltas")

    pg_proxy.pause()
    paused_at = time.monotonic()
    try:
        get = await actor.chatkit.post(
            ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id))
        )
        status = await actor.runs.thread_run_response(thread_id)
        new = await actor.chatkit.open(create_req(f"during the outage {marker}"))
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - paused_at)))
    finally:
        pg_proxy.resume()

    assert_unavailable(get.status_code, dict(get.headers), get.text)
    assert_unavailable(status.status_code, dict(status.headers), status.text)
    assert_unavailable(new.status, dict(new.headers), new.body)
    await asyncio.wait_for(streaming, 45)
    assert read.ended, read.broken
    events = read.chatkit_events()
    assert not [event for event in events if isinstance(event, ErrorEvent)]
    assert answer_text(events) == echo(text, 2)
    final = await actor.runs.wait_run(thread_id, within_s=10)
    assert final.status == "completed"
    thread = await actor.chatkit.get_thread(thread_id)
    assert texts_by_type(thread.items.data) == [
        ("user_message", "hello"),
        ("assistant_message", echo("hello", 1)),
        ("user_message", text),
        ("assistant_message", echo(text, 2)),
    ]
