"""A run's guard: heartbeats that keep its lease, and the two cancel signals.

One task per run waits on the run's cancel event (set by the control channel)
between heartbeats. Each heartbeat renews the lease; its answer's
`cancel_requested` is the persisted cancel flag, which works when pub/sub
dropped the signal. A 409 or 404 answer means the run is no longer this
worker's. A failed heartbeat is retried sooner; if none succeeds before the
lease runs out on the local clock, the lease is lost all the same.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Literal

import structlog

from shared.history_api import RunHeartbeat, RunRecord
from shared.history_client import HistoryClient, HistoryConflict, HistoryNotFound

from .lease import Lease

StopReason = Literal["cancelled", "lost"]

RETRY_S = 1.0
"""A failed heartbeat is tried again after at most this long."""

log = structlog.get_logger("agent_worker.run_guard")


class RunGuard:
    """Watches one run; calls `on_stop` once with the first reason to stop it."""

    def __init__(
        self,
        history: HistoryClient,
        *,
        user_id: str,
        lease: Lease,
        lease_s: int,
        interval_s: float,
        cancel: asyncio.Event,
        on_stop: Callable[[StopReason], None],
    ) -> None:
        self._history = history
        self._user_id = user_id
        self._lease = lease
        self._lease_s = lease_s
        self._interval_s = interval_s
        self._cancel = cancel
        self._on_stop = on_stop

    async def run(self) -> None:
        """Guard until cancelled by the turn's end, or until a reason to stop."""
        self._on_stop(await self._watch())

    async def _watch(self) -> StopReason:
        wait_s = self._interval_s
        while True:
            if await _set_within(self._cancel, wait_s):
                return "cancelled"
            record = await self._beat()
            if self._lease.lost:
                return "lost"
            if record is not None and record.cancel_requested:
                log.info("cancel seen on heartbeat")
                return "cancelled"
            wait_s = (
                self._interval_s
                if record is not None
                else min(self._interval_s, RETRY_S)
            )

    async def _beat(self) -> RunRecord | None:
        """One heartbeat; None if history could not be asked."""
        fence = self._lease.fence
        beat = RunHeartbeat(fencing_token=fence.fencing_token, lease_s=self._lease_s)
        asked_at = time.monotonic()
        try:
            record = await self._history.heartbeat(self._user_id, fence.run_id, beat)
        except (HistoryConflict, HistoryNotFound):
            log.warning("run lost its lease", fencing_token=fence.fencing_token)
            self._lease.lose()
            return None
        except Exception as error:
            log.warning("heartbeat failed", error_type=type(error).__name__)
            return None
        self._lease.renew(self._lease_s, asked_at, record.lease_expires_at)
        return record


async def _set_within(event: asyncio.Event, timeout_s: float) -> bool:
    """Whether `event` is set within `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
