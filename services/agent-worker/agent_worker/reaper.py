"""The reaper loop: close the runs whose worker vanished.

Every `WORKER_REAP_INTERVAL_S` each worker asks history to mark the runs whose
lease expired `failed` (history hands each run to one caller only), then ends
each one's log with a retryable error and RunEnded(failed), so every client
stream and resumer of that run ends too. A run whose end could not be published
(Redis away) is tried again at the next sweep.
"""

import asyncio
import contextlib

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import run_log
from shared.history_client import HistoryClient

from .settings import AgentWorkerSettings

log = structlog.get_logger("agent_worker.reaper")


class Reaper:
    """One worker process's sweep for expired runs."""

    def __init__(
        self, history: HistoryClient, redis: "Redis", settings: AgentWorkerSettings
    ) -> None:
        self._history = history
        self._redis = redis
        self._interval_s = settings.worker_reap_interval_s
        self._maxlen = settings.run_log_maxlen
        self._ttl_s = settings.run_log_ttl_s
        self._unended: set[str] = set()
        """Reaped runs whose end is not published yet."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sweep every interval in the background, the first after one interval."""
        self._task = asyncio.create_task(self._loop(), name="reaper")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.sweep()
            except Exception as error:
                log.warning("reap failed", error_type=type(error).__name__)

    async def sweep(self) -> list[str]:
        """Reap expired runs once; the ids of the runs ended now."""
        reaped = await self._history.reap_expired_runs()
        self._unended.update(run.id for run in reaped.data)
        if reaped.data:
            log.warning("runs reaped", run_ids=[run.id for run in reaped.data])
        ended: list[str] = []
        for run_id in sorted(self._unended):
            try:
                if await run_log.end_with_failure(
                    self._redis, run_id, maxlen=self._maxlen, ttl_s=self._ttl_s
                ):
                    ended.append(run_id)
            except (RedisError, OSError) as error:
                log.warning(
                    "reaped run's end not published",
                    run_id=run_id,
                    error_type=type(error).__name__,
                )
                continue
            self._unended.discard(run_id)
        return ended
