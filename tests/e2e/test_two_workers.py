"""Two worker processes on one queue: runs spread across both, none lost."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.chatkit_client import ChatKitClient
from testkit.processes import ManagedProcess
from testkit.services import (
    Stack,
    log_events,
    shared_settings,
    start_gateway,
    start_worker,
)
from testkit.tokens import jwt_for

RUNS = 8


@pytest.fixture(scope="module")
def two_worker_gateway(
    stack: Stack,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[tuple[str, list[ManagedProcess]]]:
    queue = f"{queue_name}-two-workers"
    log_dir = service_log_dir / "two-workers"
    common = shared_settings(attachments_dir)
    gateway = start_gateway(
        history_url=stack.history.url,
        redis_url=redis_url,
        queue_name=queue,
        log_dir=log_dir,
        settings=common,
        name="gateway-two-workers",
    )
    workers: list[ManagedProcess] = []
    try:
        for name in ("worker-a", "worker-b"):
            workers.append(
                start_worker(
                    history_url=stack.history.url,
                    redis_url=redis_url,
                    queue_name=queue,
                    model_base_url=fake_model,
                    log_dir=log_dir,
                    # Two jobs at a time each: eight runs cannot all fit in one.
                    settings={**common, "WORKER_MAX_JOBS": "2"},
                    name=name,
                )
            )
        yield gateway.url, workers
    finally:
        for worker in workers:
            worker.stop()
        gateway.process.stop()


def runs_handled(worker: ManagedProcess) -> set[str]:
    return {
        str(record["run_id"])
        for record in log_events(worker)
        if record.get("event") == "run started" and "run_id" in record
    }


async def test_concurrent_runs_spread_over_both_workers_and_all_complete(
    two_worker_gateway: tuple[str, list[ManagedProcess]], user_id: str
) -> None:
    url, workers = two_worker_gateway
    async with httpx.AsyncClient(base_url=url) as http:
        client = ChatKitClient(http, jwt_for(user_id))
        streams = await asyncio.gather(
            *(client.create_thread(f"parallel {n}") for n in range(RUNS))
        )
    for n, stream in enumerate(streams):
        assert f"Echo: parallel {n} (user turns: 1)" == stream.assistant_text()

    handled = [runs_handled(worker) for worker in workers]
    assert all(handled), f"a worker ran nothing: {handled}"
    assert not handled[0] & handled[1]
    assert len(handled[0] | handled[1]) == RUNS
