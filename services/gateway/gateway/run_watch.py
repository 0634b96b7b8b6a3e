"""What a quiet stream does each keepalive interval: check its run.

A run can end without its end marker reaching a stream: the worker was killed
(its lease runs out and nobody publishes again), or a pub/sub message was lost.
So a stream that heard nothing for a keepalive interval asks history:

- queued or running with an expired lease: the worker is gone. The gateway
  reaps (history marks every such run failed) and closes each reaped run's log
  with a retryable error and the end (``run_log.end_with_failure``), so
  recovery never waits for a live worker's reaper.
- finished a while ago: whatever the log holds after what the client has is
  sent; if even the log has no end (expired, or Redis lost it), one is made up
  from the run's stored status.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError

from gateway.state import State
from shared import run_log
from shared.events import RunEnded, RunEvent, RunStatus
from shared.history_api import RunRecord
from shared.history_client import HistoryError, HistoryNotFound

log = structlog.get_logger(__name__)

ACTIVE: frozenset[RunStatus] = frozenset({"queued", "running"})
FINISHED_GRACE = timedelta(seconds=2)
"""The worker marks a run finished, then publishes its end: give that end time
to arrive before making one up."""
CHECK_ERRORS = (
    HistoryError, HistoryNotFound, httpx.HTTPError, RedisError, OSError,
    ValidationError,
)  # fmt: skip

RunMessage = RunEvent | RunEnded


def is_active(run: RunRecord) -> bool:
    """Whether the run is queued or running (its lease may have run out)."""
    return run.status in ACTIVE


def lease_expired(run: RunRecord, now: datetime | None = None) -> bool:
    """Whether an active run's lease ran out: its worker is gone."""
    expiry = run.lease_expires_at
    return is_active(run) and expiry is not None and expiry <= (now or _now())


def _now() -> datetime:
    return datetime.now(UTC)


async def reap_expired(state: State) -> list[str]:
    """Fail every run whose lease ran out and end its log; the reaped run ids."""
    settings = state["settings"]
    expired = await state["history"].reap_expired_runs()
    for run in expired.data:
        await run_log.end_with_failure(
            state["redis"],
            run.id,
            maxlen=settings.run_log_maxlen,
            ttl_s=settings.run_log_ttl_s,
        )
        log.warning("run_reaped", run_id=run.id, thread_id=run.thread_id)
    return [run.id for run in expired.data]


@dataclass(frozen=True)
class RunWatch:
    """Checks one run for a stream of it (``sse.QuietCheck``)."""

    state: State
    user_id: str
    run_id: str

    async def __call__(self, sent: int) -> list[RunMessage]:
        """Messages the stream should send now (usually none)."""
        try:
            return await self._check(sent)
        except CHECK_ERRORS as exc:
            # The next quiet interval tries again; the stream stays open.
            log.warning("run_check_failed", run_id=self.run_id, error=str(exc))
            return []

    async def _check(self, sent: int) -> list[RunMessage]:
        run = await self.state["history"].get_run(self.user_id, self.run_id)
        now = _now()
        if lease_expired(run, now):
            await reap_expired(self.state)
            return await run_log.read_after(self.state["redis"], self.run_id, sent)
        if is_active(run):
            return []
        if run.finished_at is not None and now - run.finished_at < FINISHED_GRACE:
            return []
        return await missing_end(self.state, run, sent)


async def missing_end(state: State, run: RunRecord, sent: int) -> list[RunMessage]:
    """A finished run's log after ``sent``, ended by a made-up end if it has none."""
    logged = await run_log.read_after(state["redis"], run.id, sent)
    if any(isinstance(message, RunEnded) for message in logged):
        return logged
    last = max([sent, run.last_seq, *(message.seq for message in logged)])
    return [*logged, RunEnded(run_id=run.id, seq=last + 1, status=run.status)]
