"""WorkerDouble: does by hand what the agent worker does with the gateway's jobs.

It reads the queued arq job from Redis, publishes the run's events the way the
worker does (persisting done/replaced/removed items in history first, then
``shared.run_log.append``: PUBLISH plus the run's log), and finishes the run in
history. ``begin``/``emit``/``finish`` play a run step by step. For the short
jobs it writes the arq job result exactly as arq's ``finish_job`` does, so the
gateway's ``job.result()`` reads it.
"""

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_result
from chatkit.types import (
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
)
from pydantic import BaseModel
from redis.asyncio import Redis

from shared import run_log
from shared.events import RunEnded, RunEvent, RunStatus, ToolActivity
from shared.history_api import RunRecord, RunUpdate
from shared.history_client import HistoryClient
from shared.jobs import RUN_AGENT_JOB, RunJob

POLL_S = 0.02
RESULT_TTL_MS = 60_000
LOG_MAXLEN = 1000
LOG_TTL_S = 600


@dataclass(frozen=True)
class QueuedJob:
    """A job read from the queue: its id, arq function name and JSON payload."""

    job_id: str
    function: str
    payload: dict[str, Any]
    enqueue_time_ms: int


@dataclass
class WorkerDouble:
    """Plays the worker against real Redis and history."""

    redis: Redis
    history: HistoryClient
    queue: str
    taken: set[str] = field(default_factory=set)
    seqs: dict[str, int] = field(default_factory=dict)
    """Last sequence number published per run."""

    async def take(self, function: str, timeout_s: float = 4.0) -> QueuedJob:
        """The oldest queued job of ``function`` not taken yet.

        It stays in the queue until it is finished, as arq leaves a job that is
        in progress: the gateway, polling for the result, sees it as pending.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for job_id in await self.redis.zrange(self.queue, 0, -1):
                if job_id.decode() in self.taken:
                    continue
                queued = await self._read(job_id.decode())
                if queued is not None and queued.function == function:
                    self.taken.add(queued.job_id)
                    return queued
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"no {function} job enqueued")

    async def _read(self, job_id: str) -> QueuedJob | None:
        raw = await self.redis.get(job_key_prefix + job_id)
        if raw is None:
            return None  # expired, or taken meanwhile
        stored = json.loads(raw)  # the worker decodes with json.loads
        return QueuedJob(job_id, stored["f"], stored["a"][0], stored["et"])

    async def job_for(self, thread_id: str) -> tuple[str, RunJob]:
        """The queued run job of the thread's newest run: (arq function, payload)."""
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            for job_id in await self.redis.zrange(self.queue, 0, -1):
                queued = await self._read(job_id.decode())
                if queued is None or queued.function != RUN_AGENT_JOB:
                    continue
                job = RunJob.model_validate(queued.payload)
                if job.thread_id == thread_id:
                    await self.redis.zrem(self.queue, job_id)
                    assert job.run_id == queued.job_id
                    return queued.function, job
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"no job enqueued for {thread_id}")

    async def queued_runs(self, thread_id: str) -> list[str]:
        """Run ids of the thread's jobs still waiting in the queue."""
        runs = []
        for job_id in await self.redis.zrange(self.queue, 0, -1):
            queued = await self._read(job_id.decode())
            if queued is not None and queued.function == RUN_AGENT_JOB:
                job = RunJob.model_validate(queued.payload)
                if job.thread_id == thread_id:
                    runs.append(job.run_id)
        return runs

    async def _persist(self, job: RunJob, event: ThreadStreamEvent) -> None:
        user, thread = job.user_id, job.thread_id
        match event:
            case ThreadItemDoneEvent():
                await self.history.add_item(user, thread, event.item)
            case ThreadItemReplacedEvent():
                await self.history.save_item(user, thread, event.item)
            case ThreadItemRemovedEvent():
                await self.history.delete_item(user, thread, event.item_id)

    async def begin(self, job: RunJob) -> RunRecord:
        """Pick the run up, as the worker does first."""
        update = RunUpdate(status="running", worker="double")
        return await self.history.update_run(job.user_id, job.run_id, update)

    async def emit(
        self,
        job: RunJob,
        events: Sequence[ThreadStreamEvent],
        tool: ToolActivity | None = None,
    ) -> None:
        """Persist (done items), then publish and log each event, numbered on."""
        for event in events:
            await self._persist(job, event)
            seq = self.seqs.get(job.run_id, 0) + 1
            self.seqs[job.run_id] = seq
            message = RunEvent(run_id=job.run_id, seq=seq, event=event, tool=tool)
            await self.publish(message)

    async def publish(self, message: RunEvent | RunEnded) -> None:
        """One message through ``shared.run_log`` (PUBLISH and log)."""
        await run_log.append(
            self.redis, message.run_id, [message], maxlen=LOG_MAXLEN, ttl_s=LOG_TTL_S
        )

    async def finish(self, job: RunJob, status: RunStatus) -> None:
        """Mark the run finished in history, then publish its end."""
        last = self.seqs.get(job.run_id, 0)
        update = RunUpdate(status=status, last_seq=last)
        await self.history.update_run(job.user_id, job.run_id, update)
        await self.publish(RunEnded(run_id=job.run_id, seq=last + 1, status=status))

    async def run(
        self, job: RunJob, events: list[ThreadStreamEvent], status: RunStatus
    ) -> None:
        """Publish the events and the end marker, then finish the run."""
        await self.begin(job)
        await self.emit(job, events)
        await self.finish(job, status)

    async def reply(self, queued: QueuedJob, reply: BaseModel) -> None:
        """Finish a short job with ``reply`` as its result, as arq's worker does."""
        await self._finish(queued, success=True, result=reply.model_dump(mode="json"))

    async def crash(self, queued: QueuedJob) -> None:
        """Finish a short job as failed (the worker's serializer keeps the name)."""
        await self._finish(queued, success=False, result="RuntimeError")

    async def _finish(self, queued: QueuedJob, *, success: bool, result: Any) -> None:
        now_ms = int(time.time() * 1000)
        data = serialize_result(
            queued.function, (queued.payload,), {}, 1, queued.enqueue_time_ms,
            success, result, now_ms, now_ms, f"{queued.job_id}:{queued.function}",
            self.queue, queued.job_id, serializer=lambda v: json.dumps(v).encode(),
        )  # fmt: skip
        assert data is not None
        job_id = queued.job_id
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                retry_key_prefix + job_id,
                in_progress_key_prefix + job_id,
                job_key_prefix + job_id,
            )
            pipe.zrem(self.queue, job_id)
            pipe.psetex(result_key_prefix + job_id, RESULT_TTL_MS, data)
            await pipe.execute()
