"""The arq worker: JSON jobs, one try, long timeout, and pickup without polling.

arq 0.28 polls the queue every `poll_delay` (0.5 s), which would add ~250 ms to
every run. `WakeableWorker` subscribes to the queue's wake-up channel (the gateway
publishes there right after enqueueing) and starts a poll iteration as soon as a
message arrives; the poll delay remains only as a fallback. It overrides
`Worker.main`, mirroring arq 0.28's loop except for that wait, and relies on the
internals `_poll_iteration`, `start_jobs`, `run_job`, `tasks`, `sem`,
`job_counter`, `_jobs_started` and `_release_sem_dec_counter_on_complete`, and on
arq's in-progress key: hence the pin `arq>=0.28,<0.29`.

arq 0.28 ends its worker on the first Redis error of a poll (a Redis restart
stops every worker). Here a failed poll is logged and tried again with
backoff, so the worker carries on once Redis is back; the wake-up and control
subscriptions reconnect by themselves, and a job's slot taken just before a
failed claim is given back (arq would lose it).

arq keeps a job in the queue until it finishes, so every poll reads the ids of
all running jobs too and, per id, spends WATCH/EXISTS/ZSCORE/UNWATCH to find it
already claimed: with many open runs that was most of Redis's work. Ids of jobs
this worker runs are skipped without asking Redis (arq would find their
in-progress key), and ids found claimed elsewhere are not asked about again for
`CLAIMED_ELSEWHERE_RECHECK_S` (such a job only becomes free when its in-progress
key goes, after the job timeout, or when it is re-queued, which its own worker
sees at once). The read is not cut to the free slots: running jobs sort first in
the queue and would hide the waiting ones.

A wake-up names its job (the gateway publishes the run id): that job is started
without reading the queue, which is read on a wake-up naming no job (a new
subscription), when a full worker frees a slot (a job is only left waiting
while every slot is taken) and at least every `poll_delay` (a job whose wake-up
was lost). A job is claimed in one round trip (a Lua script doing arq's check:
queued and due, then its in-progress key set unless it exists, as SET NX)
instead of arq's four (WATCH, EXISTS, ZSCORE, MULTI). A claimed job runs
through `one_try.run_once` (arq's `run_job` minus the retry counter and the
abort set: see there).
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import structlog
from arq.connections import RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker, func
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from shared.jobs import RUN_AGENT_JOB, SYNC_ACTION_JOB, TRANSCRIBE_JOB
from shared.redis_keys import queue_wakeup_channel

from .one_try import check_supported, run_once
from .resources import RESOURCES_KEY, WorkerResources, open_resources
from .run_agent import run_agent
from .settings import AgentWorkerSettings
from .sync_action import sync_custom_action
from .transcribe import TRANSCRIBE_TIMEOUT_S, transcribe

WAKEUP_CLIENT_NAME = "agent-worker.wakeup"
RESUBSCRIBE_DELAY_S = 1.0
POLL_RETRY_FIRST_S = 0.1
POLL_RETRY_MAX_S = 2.0
CLAIMED_ELSEWHERE_RECHECK_S = 1.0
REPLY_KEEP_S = 60
"""How long a short job's reply waits in Redis for the gateway to read it."""
SYNC_ACTION_TIMEOUT_S = 60

# KEYS: in-progress key, queue; ARGV: job id, now (ms), in-progress ttl (ms).
# The job's score if it was claimed, nil if it runs elsewhere, left the queue
# or is deferred (as arq's start_jobs decides).
CLAIM_JOB = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return false end
return score
"""

log = structlog.get_logger("agent_worker.worker")

ReadyCallback = Callable[[dict[str, Any]], None]


def dump_json(value: Any) -> bytes:
    """arq job serializer: JSON, never pickle (exceptions become their class name)."""
    return json.dumps(value, default=_json_fallback, separators=(",", ":")).encode()


def load_json(data: bytes) -> Any:
    """arq job deserializer."""
    return json.loads(data)


def _json_fallback(value: object) -> str:
    return type(value).__name__ if isinstance(value, BaseException) else str(value)


class WakeableWorker(Worker):  # type: ignore[misc]
    """An arq Worker whose poll loop wakes up on the queue's wake-up channel."""

    _pool: Any

    def __init__(
        self,
        *args: Any,
        wakeup_redis_url: str,
        on_ready: ReadyCallback | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        check_supported(self)
        self._wakeup_redis_url = wakeup_redis_url
        self._on_ready = on_ready
        self._wake = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._claimed_elsewhere: dict[bytes, float] = {}
        self._named: list[bytes] = []
        """Job ids named by wake-ups since the last poll."""
        self._claim_job: AsyncScript | None = None
        self._next_read = 0.0
        """When a wake-up naming its job is followed by a read of the queue
        anyway (monotonic clock)."""

    async def main(self) -> None:
        """arq 0.28's `Worker.main`, waiting on wake-ups instead of sleeping."""
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        self.ctx["redis"] = self.pool
        self._claim_job = self.pool.register_script(CLAIM_JOB)
        if self.on_startup:
            await self.on_startup(self.ctx)
        listener = asyncio.create_task(self._listen_for_wakeups())
        try:
            await self._subscribed.wait()
            if self._on_ready is not None:
                self._on_ready(self.ctx)
            await self._poll_until_done()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _poll_until_done(self) -> None:
        retry_s = POLL_RETRY_FIRST_S
        while True:
            self._wake.clear()
            named, self._named = self._named, []
            try:
                if named:
                    await self.start_jobs(named)
                if not named or time.monotonic() >= self._next_read:
                    self._next_read = time.monotonic() + self.poll_delay_s
                    await self._poll_iteration()
                if self.burst and await self._burst_finished():
                    return
            except (RedisError, OSError) as error:
                log.warning(
                    "queue poll failed",
                    error_type=type(error).__name__,
                    retry_in_s=retry_s,
                )
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, POLL_RETRY_MAX_S)
                continue
            retry_s = POLL_RETRY_FIRST_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_delay_s)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's `start_jobs`, one job at a time, skipping ids known to be claimed."""
        now = time.monotonic()
        self._forget_claims_older_than(now - CLAIMED_ELSEWHERE_RECHECK_S)
        for job_id in job_ids:
            if self.job_counter >= self.max_jobs:
                return
            if self._runs_here(job_id) or job_id in self._claimed_elsewhere:
                continue
            if not await self._start_job(job_id):
                self._claimed_elsewhere[job_id] = now

    async def _start_job(self, job_id: bytes) -> bool:
        """Claim one job (`CLAIM_JOB`) and run it in a task, as arq does."""
        assert self._claim_job is not None  # registered in main()
        await self.sem.acquire()
        self.job_counter += 1
        try:
            score = await self._claim_job(
                keys=[in_progress_key_prefix + job_id.decode(), self.queue_name],
                args=[job_id, timestamp_ms(), int(self.in_progress_timeout_s * 1000)],
            )
        except BaseException:
            # Only a started job gives its slot back: give it back here.
            super()._release_sem_dec_counter_on_complete()
            raise
        if score is None:
            super()._release_sem_dec_counter_on_complete()
            return False
        task = self.loop.create_task(self.run_job(job_id.decode(), int(float(score))))
        task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
        self.tasks[job_id.decode()] = task
        return True

    async def run_job(self, job_id: str, score: int) -> None:
        """Run a claimed job: one try, no retry counter (`one_try`)."""
        await run_once(self, job_id, score)

    def _runs_here(self, job_id: bytes) -> bool:
        task = self.tasks.get(job_id.decode())
        return task is not None and not task.done()

    def _forget_claims_older_than(self, cutoff: float) -> None:
        stale = [j for j, seen in self._claimed_elsewhere.items() if seen < cutoff]
        for job_id in stale:
            del self._claimed_elsewhere[job_id]

    async def _burst_finished(self) -> bool:
        if (
            0 <= self.max_burst_jobs <= self._jobs_started()
            or not await self.pool.zcard(self.queue_name)
        ):
            await asyncio.gather(*self.tasks.values())
            return True
        return False

    def _release_sem_dec_counter_on_complete(self) -> None:
        was_full = self.job_counter >= self.max_jobs
        super()._release_sem_dec_counter_on_complete()
        # Jobs are only left queued while every slot is taken: now that one
        # is free, they need not wait for the next poll.
        if was_full:
            self._wake.set()

    async def _listen_for_wakeups(self) -> None:
        channel = queue_wakeup_channel(self.queue_name)
        redis = Redis.from_url(self._wakeup_redis_url, client_name=WAKEUP_CLIENT_NAME)
        try:
            while True:
                try:
                    await self._relay_wakeups(redis, channel)
                except (RedisError, OSError) as error:
                    log.warning(
                        "wake-up subscription lost", error_type=type(error).__name__
                    )
                    self._subscribed.set()
                    await asyncio.sleep(RESUBSCRIBE_DELAY_S)
        finally:
            await redis.aclose()

    async def _relay_wakeups(self, redis: "Redis", channel: str) -> None:
        async with redis.pubsub() as pubsub:
            await pubsub.subscribe(channel)
            self._subscribed.set()
            # Jobs enqueued while (re)subscribing are picked up by this poll.
            self._wake.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    if isinstance(message.get("data"), bytes):
                        self._named.append(message["data"])
                    self._wake.set()


async def _startup(settings: AgentWorkerSettings, ctx: dict[str, Any]) -> None:
    resources = open_resources(settings)
    await resources.start()
    ctx[RESOURCES_KEY] = resources


async def _shutdown(ctx: dict[str, Any]) -> None:
    resources: WorkerResources | None = ctx.pop(RESOURCES_KEY, None)
    if resources is not None:
        await resources.aclose()
    log.info("worker stopped")


def log_ready(ctx: dict[str, Any]) -> None:
    """The 'worker ready' line, with a warning when the offline model answers."""
    resources: WorkerResources = ctx[RESOURCES_KEY]
    settings = resources.settings
    log.info(
        "worker ready",
        worker=settings.worker_name,
        queue=settings.queue_name,
        model=resources.model.label,
        max_jobs=settings.worker_max_jobs,
    )
    if resources.model.offline:
        log.warning(
            "offline demo model: answers are scripted, not generated; set "
            "OPENAI_API_KEY, OPENAI_BASE_URL or GEMINI_API_KEY for a real model",
            model=resources.model.label,
        )


def build_worker(settings: AgentWorkerSettings, **overrides: Any) -> WakeableWorker:
    """The worker for these settings; `overrides` go to arq (burst, handle_signals)."""
    options: dict[str, Any] = {
        "functions": [
            func(run_agent, name=RUN_AGENT_JOB),
            # Request/reply jobs: the gateway reads their result, so keep it.
            func(
                sync_custom_action,
                name=SYNC_ACTION_JOB,
                keep_result=REPLY_KEEP_S,
                timeout=SYNC_ACTION_TIMEOUT_S,
            ),
            func(
                transcribe,
                name=TRANSCRIBE_JOB,
                keep_result=REPLY_KEEP_S,
                timeout=TRANSCRIBE_TIMEOUT_S + 10,
            ),
        ],
        "queue_name": settings.queue_name,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "wakeup_redis_url": settings.redis_url,
        "on_startup": partial(_startup, settings),
        "on_shutdown": _shutdown,
        "on_ready": log_ready,
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": settings.worker_job_timeout_s,
        # An agent turn is never blindly retried, not even after a shutdown.
        "max_tries": 1,
        "retry_jobs": False,
        # Nobody reads a run's arq result: the run record in history is the result.
        "keep_result": 0,
        "job_serializer": dump_json,
        "job_deserializer": load_json,
    }
    return WakeableWorker(**(options | overrides))
