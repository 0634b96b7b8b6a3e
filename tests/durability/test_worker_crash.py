"""A worker killed mid-run: the run fails retryably, nothing is lost or re-run."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatkit.types import ErrorEvent

from shared.history_client import HistoryClient
from testkit.chatkit_client import add_message_req
from testkit.chatkit_sse import SseRead, after_text_frames
from testkit.cluster import Cluster, running_cluster
from testkit.model_script import slow_marker
from testkit.processes import ManagedProcess
from testkit.services import Service, log_events, shared_settings, start_history

from .conftest import ActorFactory
from .talk import eventually, model_calls_with, run_id_of, stored_items

# Short lease and sweeps, so a dead worker's run is noticed within seconds. History
# grants the first lease of a running run itself; heartbeats only extend it.
FAST_RECOVERY = {
    "WORKER_LEASE_S": "3",
    "WORKER_HEARTBEAT_S": "1",
    "WORKER_REAP_INTERVAL_S": "1",
}
SHORT_RUNNING_LEASE = {"HISTORY_RUNNING_LEASE_S": "3"}
RECOVERY_WITHIN_S = 20.0


@pytest.fixture(scope="module")
def crash_history(
    pg_dsn: str, service_log_dir: Path, attachments_dir: Path
) -> Iterator[Service]:
    """A history granting short running leases, on the session's database."""
    service = start_history(
        pg_dsn,
        service_log_dir / "worker-crash",
        settings={**shared_settings(attachments_dir), **SHORT_RUNNING_LEASE},
        name="history-short-lease",
    )
    try:
        yield service
    finally:
        service.process.stop()


@pytest.fixture(scope="module")
def crash_cluster(
    crash_history: Service,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[Cluster]:
    """One gateway and two workers with fast recovery, on a queue of their own."""
    with running_cluster(
        history_url=crash_history.url,
        redis_url=redis_url,
        queue_name=f"{queue_name}-worker-crash",
        model_base_url=fake_model,
        log_dir=service_log_dir / "worker-crash",
        attachments_dir=attachments_dir,
        gateways={"gateway-wc": {"GATEWAY_KEEPALIVE_S": "1"}},
        workers={"worker-x": FAST_RECOVERY, "worker-y": FAST_RECOVERY},
    ) as cluster:
        yield cluster


def started_run(worker: ManagedProcess, run_id: str) -> bool:
    return any(
        record.get("event") == "run started" and record.get("run_id") == run_id
        for record in log_events(worker)
    )


async def test_worker_killed_mid_run_fails_the_run_retryably_and_keeps_done_items(
    crash_cluster: Cluster,
    actor_at: ActorFactory,
    history: HistoryClient,
    fake_model: str,
    marker: str,
) -> None:
    actor = actor_at(crash_cluster.gateway_url("gateway-wc"))
    opening = await actor.chatkit.create_thread("hello")
    thread_id = opening.thread_id
    assert thread_id is not None
    text = f"add task Buy milk {marker} {slow_marker(0.3)}"
    read = SseRead()
    streaming = asyncio.create_task(
        actor.chatkit.open(add_message_req(thread_id, text), into=read)
    )
    await read.wait_for(after_text_frames(2), within_s=20, what="two text deltas")
    run_id = run_id_of(read)
    workers = list(crash_cluster.workers.values())
    victims = [worker for worker in workers if started_run(worker, run_id)]
    assert len(victims) == 1, "exactly one worker runs the turn"
    survivor = next(worker for worker in workers if worker is not victims[0])
    calls_before = model_calls_with(fake_model, marker)

    victims[0].kill()

    await asyncio.wait_for(streaming, RECOVERY_WITHIN_S)
    assert read.ended, read.broken
    last = read.chatkit_events()[-1]
    assert isinstance(last, ErrorEvent)
    assert last.allow_retry is True
    final = await actor.runs.wait_run(thread_id, within_s=5)
    assert (final.run_id, final.status) == (run_id, "failed")
    thread = await actor.chatkit.get_thread(thread_id)
    assert thread.status.type == "active"
    kinds = [
        item.type for item in await stored_items(history, actor.user_id, thread_id)
    ]
    assert kinds[:3] == ["user_message", "assistant_message", "user_message"], kinds
    assert "workflow" in kinds[3:], "the finished tool call stays stored"
    assert "assistant_message" not in kinds[3:], "an unfinished answer is not stored"
    resumed = await actor.runs.events(run_id, after=0)
    assert resumed.ended
    resumed_last = resumed.chatkit_events()[-1]
    assert isinstance(resumed_last, ErrorEvent)
    assert resumed_last.allow_retry is True
    await asyncio.sleep(2.0)  # a re-run would have asked the model again by now
    assert model_calls_with(fake_model, marker) == calls_before
    assert not started_run(survivor, run_id)
    after = await actor.chatkit.add_user_message(thread_id, "still there?")
    assert after.assistant_text().startswith("Echo: still there?")


async def test_resumer_of_a_dead_workers_run_gets_the_retryable_end(
    crash_cluster: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    # The previous test killed one worker: start another, so one survives this one.
    crash_cluster.add_worker(f"worker-{marker}", FAST_RECOVERY)
    actor = actor_at(crash_cluster.gateway_url("gateway-wc"))
    text = f"long answer {marker} {slow_marker(0.3)}"
    head = await actor.chatkit.open({"message": text}, stop_when=after_text_frames(2))
    run_id = run_id_of(head)
    assert head.last_id is not None
    await eventually(
        lambda: _any_started(crash_cluster, run_id), within_s=5, what="run started"
    )
    runners = [w for w in crash_cluster.workers.values() if started_run(w, run_id)]
    runners[0].kill()

    tail = await asyncio.wait_for(
        actor.runs.events(run_id, fmt="simple", last_event_id=head.last_id),
        RECOVERY_WITHIN_S,
    )

    assert tail.ended, tail.broken
    kinds = [event.type for event in tail.simple_events()]
    assert kinds[-1:] == ["error"], kinds
    assert tail.frames[-1].data == "[DONE]"


async def _any_started(cluster: Cluster, run_id: str) -> bool:
    return any(started_run(worker, run_id) for worker in cluster.workers.values())
