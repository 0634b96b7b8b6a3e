"""Redis restarted mid-run: a retryable end, a correct final status, no restarts."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chatkit.types import ErrorEvent

from shared.history_client import HistoryClient
from testkit.chatkit_client import create_req
from testkit.chatkit_sse import SseRead, after_text_frames
from testkit.cluster import Cluster, running_cluster
from testkit.model_script import slow_marker
from testkit.restartable_redis import RestartableRedis, restartable_redis

from .conftest import ActorFactory
from .talk import (
    created_thread_id,
    echo,
    eventually,
    run_id_of,
    stored_items,
    texts_by_type,
)

STREAM_ENDS_WITHIN_S = 20.0
RUN_ENDS_WITHIN_S = 40.0


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RestartableRedis]:
    """A Redis only this module uses, so restarting it hurts no other test."""
    with restartable_redis() as server:
        yield server


@pytest.fixture(scope="module")
def redis_cluster(
    own_redis: RestartableRedis,
    history_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[Cluster]:
    """One gateway and one worker on the module's own Redis."""
    with running_cluster(
        history_url=history_url,
        redis_url=own_redis.url,
        queue_name=f"{queue_name}-redis-restart",
        model_base_url=fake_model,
        log_dir=service_log_dir / "redis-restart",
        attachments_dir=attachments_dir,
        gateways={"gateway-rr": {}},
        workers={"worker-rr": {}},
    ) as cluster:
        yield cluster


async def ready(url: str) -> bool:
    async with httpx.AsyncClient(base_url=url) as http:
        try:
            return (await http.get("/readyz", timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False


async def test_redis_restart_mid_run_ends_the_stream_retryably_and_services_recover(
    redis_cluster: Cluster,
    own_redis: RestartableRedis,
    actor_at: ActorFactory,
    history: HistoryClient,
    marker: str,
) -> None:
    url = redis_cluster.gateway_url("gateway-rr")
    actor = actor_at(url)
    warm_up = await actor.chatkit.create_thread(f"before the restart {marker}")
    assert warm_up.assistant_text() == echo(f"before the restart {marker}", 1)
    text = f"through the restart {marker} {slow_marker(0.2)}"
    read = SseRead()
    streaming = asyncio.create_task(actor.chatkit.open(create_req(text), into=read))
    await read.wait_for(after_text_frames(3), within_s=15, what="three text deltas")
    thread_id = created_thread_id(read.chatkit_events())
    run_id = run_id_of(read)

    own_redis.restart()

    await asyncio.wait_for(streaming, STREAM_ENDS_WITHIN_S)
    assert read.ended, read.broken
    last = read.chatkit_events()[-1]
    assert isinstance(last, ErrorEvent)
    assert last.allow_retry is True

    async def run_over() -> bool:
        run = await history.get_run(actor.user_id, run_id)
        return run.status in ("completed", "failed")

    await eventually(run_over, within_s=RUN_ENDS_WITHIN_S, what="run ended")
    run = await history.get_run(actor.user_id, run_id)
    items = texts_by_type(await stored_items(history, actor.user_id, thread_id))
    assert items[0] == ("user_message", text)
    if run.status == "completed":
        assert items[1:] == [("assistant_message", echo(text, 1))]
    else:
        assert [kind for kind, _ in items[1:]] == []
    assert all(p.alive() for p in redis_cluster.workers.values())
    assert redis_cluster.gateways["gateway-rr"].process.alive()

    await eventually(lambda: ready(url), within_s=15, what="gateway ready again")
    after = await actor.chatkit.create_thread(f"after the restart {marker}")
    assert after.assistant_text() == echo(f"after the restart {marker}", 1)
