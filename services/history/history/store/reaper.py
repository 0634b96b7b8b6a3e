"""The reap sweep: the one statement over every user's runs.

Internal, not user data on behalf of a user: it only fails runs whose lease ran
out (a worker died or never came) and reports them, so a caller can tell their
listeners. ``FOR UPDATE SKIP LOCKED`` keeps concurrent sweeps apart: a row one
sweep holds is skipped by the others, and a row it already failed no longer
matches, so each run is reported exactly once.
"""

from history.db import Executor
from history.store.runs import COLUMNS, LEASE_EXPIRED, record
from shared.history_api import RunRecord

REAP = f"""
UPDATE runs SET status = 'failed', error = $1, finished_at = now()
WHERE id IN (
    SELECT id FROM runs
    WHERE status IN ('queued', 'running') AND lease_expires_at <= now()
    FOR UPDATE SKIP LOCKED
)
RETURNING {COLUMNS}
"""


async def reap_expired_runs(db: Executor) -> list[RunRecord]:
    """Fail every queued or running run whose lease expired; return them."""
    return [record(row) for row in await db.fetch(REAP, LEASE_EXPIRED)]
