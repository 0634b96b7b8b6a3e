"""Job pickup latency, measured precisely: enqueue to the start of the job function.

A probe worker process runs our real ``WakeableWorker`` (``build_worker``, on
uvloop and with the frozen start-up heap, like the agent-worker) on a queue of
its own, with one job function that only records how long after its enqueue it
started. The enqueuing side calls the gateway's own ``enqueue_and_wake`` (job,
queue entry and wake-up in one round trip). Both sides read the same wall clock
(one machine), so no clock skew enters.

``python -m bench.pickup_probe --redis URL --queue Q`` runs the probe worker.
"""

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import uvloop
from arq.connections import ArqRedis
from arq.worker import func
from redis.asyncio import ConnectionPool, Redis

from agent_worker.settings import AgentWorkerSettings
from agent_worker.worker import build_worker
from gateway.runs import enqueue_and_wake
from shared.gc_policy import freeze_startup_heap
from shared.jobs import RUN_AGENT_JOB

READY_LINE = "probe worker ready"
RESULT_WAIT_S = 5.0


def results_key(queue: str) -> str:
    """The list the probe job appends each pickup time (ms) to."""
    return f"{queue}:pickup-ms"


async def probe_job(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """Record how long after its enqueue this job started."""
    pickup_ms = (time.time() - float(payload["enqueued_at"])) * 1000
    await ctx["redis"].rpush(results_key(str(payload["queue"])), f"{pickup_ms:.4f}")


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


async def measure_pickup(redis_url: str, queue: str, count: int) -> list[float]:
    """Enqueue ``count`` jobs one after another; their pickup times in ms."""
    pool = ArqRedis(
        ConnectionPool.from_url(redis_url),
        job_serializer=_dump,
        job_deserializer=json.loads,
        default_queue_name=queue,
    )
    reader = Redis.from_url(redis_url)
    found: list[float] = []
    try:
        for _ in range(count):
            payload = {"enqueued_at": time.time(), "queue": queue}
            await enqueue_and_wake(pool, queue, uuid.uuid4().hex, payload)
            answer = await reader.blpop([results_key(queue)], timeout=RESULT_WAIT_S)
            if answer is not None:
                found.append(float(answer[1]))
    finally:
        await reader.aclose()
        await pool.aclose()
    return found


def main() -> None:
    """Run the probe worker until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    settings = AgentWorkerSettings(
        _env_file=None,
        redis_url=args.redis,
        queue_name=args.queue,
        worker_name="pickup-probe",
    )
    worker = build_worker(
        settings,
        functions=[func(probe_job, name=RUN_AGENT_JOB)],
        on_startup=None,
        on_shutdown=None,
        on_ready=lambda _ctx: print(READY_LINE, flush=True),
    )
    freeze_startup_heap()  # as the agent-worker's entry point does
    worker.run()


if __name__ == "__main__":
    asyncio.set_event_loop(uvloop.new_event_loop())
    main()
