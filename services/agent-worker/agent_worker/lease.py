"""A run's lease as this worker sees it: whether it may still write and publish.

History is the judge (a heartbeat or fenced write answered 409 means the run
is no longer ours), but a worker that cannot reach history must not keep
publishing forever either: once the local clock passes the last lease history
granted, the lease counts as lost too. Losing it is final. history sets the
lease of a run it marks running by its own setting, so the answer's expiry
may shorten what the worker asked for.
"""

import math
import time
from datetime import UTC, datetime

from shared.history_api import RunFence


class Lease:
    """The fencing token of a run and how long this worker may act on it."""

    def __init__(self, run_id: str, fencing_token: int) -> None:
        self.fence = RunFence(run_id=run_id, fencing_token=fencing_token)
        # No deadline until history confirms the pickup and grants the first lease.
        self._deadline = math.inf
        self._lost = False

    @property
    def fencing_token(self) -> int:
        """The token every write of this run carries."""
        return self.fence.fencing_token

    @property
    def lost(self) -> bool:
        """History refused the run, or its lease ran out on the local clock."""
        if not self._lost and time.monotonic() >= self._deadline:
            self._lost = True
        return self._lost

    def renew(
        self, lease_s: float, asked_at: float, expires_at: datetime | None = None
    ) -> None:
        """History granted `lease_s` seconds from a request sent at `asked_at`,
        or less if the record's `expires_at` (its own clock) says so."""
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)  # history speaks UTC
            lease_s = min(lease_s, (expires_at - datetime.now(UTC)).total_seconds())
        if not self._lost:
            self._deadline = asked_at + lease_s

    def lose(self) -> None:
        """History answered that the run is stale or over."""
        self._lost = True
