"""A run's guard: heartbeats that keep its lease, and the two cancel signals.

One task per run waits on the run's cancel event (set by the control channel)
while the process's `HeartbeatBatcher` renews its lease with every other
run's. Each answer renews the lease; its `cancel_requested` is the persisted
cancel flag, which works when pub/sub dropped the signal. An answer `lost`
(what a single heartbeat answers 409 or 404) means the run is no longer this
worker's. A failed heartbeat is retried sooner; if none succeeds before the
lease runs out on the local clock, the lease is lost all the same.
"""

import asyncio
from collections.abc import Callable
from typing import Literal

import structlog

from shared.history_api import RunBeat

from .heartbeats import BeatAnswer, HeartbeatBatcher
from .lease import Lease

StopReason = Literal["cancelled", "lost"]

log = structlog.get_logger("agent_worker.run_guard")


class RunGuard:
    """Watches one run; calls `on_stop` once with the first reason to stop it."""

    def __init__(
        self,
        heartbeats: HeartbeatBatcher,
        *,
        user_id: str,
        lease: Lease,
        cancel: asyncio.Event,
        on_stop: Callable[[StopReason], None],
    ) -> None:
        self._heartbeats = heartbeats
        self._user_id = user_id
        self._lease = lease
        self._cancel = cancel
        self._on_stop = on_stop
        self._verdict: asyncio.Future[StopReason] | None = None
        """Set by the first heartbeat answer that stops the run."""

    async def run(self) -> None:
        """Guard until cancelled by the turn's end, or until a reason to stop."""
        self._on_stop(await self._watch())

    async def _watch(self) -> StopReason:
        verdict = self._verdict = asyncio.get_running_loop().create_future()
        fence = self._lease.fence
        beat = RunBeat(
            run_id=fence.run_id,
            user_id=self._user_id,
            fencing_token=fence.fencing_token,
        )
        cancelled = asyncio.ensure_future(self._cancel.wait())
        try:
            with self._heartbeats.join(beat, self._answered):
                await asyncio.wait((cancelled, verdict), return_when="FIRST_COMPLETED")
        finally:
            cancelled.cancel()
        if verdict.done():  # a lost lease outranks a cancel seen at once
            return self._log_verdict(verdict.result())
        return "cancelled"

    def _answered(self, answer: BeatAnswer) -> None:
        """One heartbeat's answer (in the batcher's task: no logging here, it
        would carry another run's log context)."""
        verdict = self._verdict
        if verdict is None or verdict.done():
            return
        beaten = answer.beaten
        if beaten is not None and beaten.lost:
            self._lease.lose()
        elif beaten is not None:
            self._lease.renew(
                self._heartbeats.lease_s, answer.asked_at, beaten.lease_expires_at
            )
        if self._lease.lost:
            verdict.set_result("lost")
        elif beaten is not None and beaten.cancel_requested:
            verdict.set_result("cancelled")

    def _log_verdict(self, reason: StopReason) -> StopReason:
        if reason == "cancelled":
            log.info("cancel seen on heartbeat")
        else:
            log.warning("run lost its lease", fencing_token=self._lease.fencing_token)
        return reason
