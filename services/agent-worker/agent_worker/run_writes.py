"""A run's writes to history: fenced by its lease, retried while history is down.

history answers 503 while PostgreSQL is unavailable; a restarting history
refuses connections. Either way a write is retried with exponential backoff
for up to `budget_s`, so a short outage loses no done item. An insert whose
answer was lost may have landed: its retries are upserts. A 409 on a fenced
write or a run update means the run is no longer this worker's (a newer run
holds the thread, or the run was reaped or ended): the lease is lost and
`LeaseLost` stops the turn.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import structlog
from chatkit.types import ThreadItem

from shared.history_api import RunRecord, RunUpdate, ToolCallRecord
from shared.history_client import (
    HistoryClient,
    HistoryConflict,
    HistoryError,
    HistoryNotFound,
)

from .lease import Lease

RETRYABLE_STATUSES = frozenset({502, 503, 504})
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0

T = TypeVar("T")

log = structlog.get_logger("agent_worker.run_writes")


class LeaseLostError(Exception):
    """The run is no longer this worker's: write and publish nothing more."""


def is_transient(error: BaseException) -> bool:
    """history is restarting or its database is briefly unavailable."""
    if isinstance(error, HistoryError):
        return error.status in RETRYABLE_STATUSES
    return isinstance(error, httpx.TransportError)


async def with_retries(
    call: Callable[[int], Awaitable[T]],
    *,
    budget_s: float,
    what: str,
    lease: Lease | None = None,
) -> T:
    """`call(attempt)` until it succeeds or fails for good; 409 loses the lease."""
    deadline = time.monotonic() + budget_s
    delay = BACKOFF_FIRST_S
    attempt = 0
    while True:
        if lease is not None and lease.lost:
            raise LeaseLostError(what)
        try:
            return await call(attempt)
        except HistoryConflict as error:
            if lease is None:
                raise
            lease.lose()
            raise LeaseLostError(what) from error
        except Exception as error:
            if not is_transient(error) or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "history write failed, retrying",
                what=what,
                error_type=type(error).__name__,
                retry_in_s=delay,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)
        attempt += 1


class RunWriter:
    """Item writes and status updates of one run, each fenced and retried."""

    def __init__(
        self,
        history: HistoryClient,
        *,
        user_id: str,
        thread_id: str,
        lease: Lease,
        budget_s: float,
    ) -> None:
        self._history = history
        self._user_id = user_id
        self._thread_id = thread_id
        self._lease = lease
        self._budget_s = budget_s

    async def add_item(self, item: ThreadItem, calls: list[ToolCallRecord]) -> None:
        """Insert a done item; an id that exists (a continued workflow) is updated."""
        fence = self._lease.fence
        user_id, thread_id = self._user_id, self._thread_id

        async def attempt(number: int) -> None:
            if number == 0:
                try:
                    await self._history.add_item(
                        user_id, thread_id, item, calls, fence=fence
                    )
                    return
                except HistoryConflict:
                    pass  # the id exists, or the run is stale: the upsert tells
            await self._history.save_item(user_id, thread_id, item, calls, fence=fence)

        await with_retries(
            attempt, budget_s=self._budget_s, what="add item", lease=self._lease
        )

    async def save_item(self, item: ThreadItem, calls: list[ToolCallRecord]) -> None:
        """Insert or overwrite an item."""

        async def attempt(_: int) -> None:
            await self._history.save_item(
                self._user_id, self._thread_id, item, calls, fence=self._lease.fence
            )

        await with_retries(
            attempt, budget_s=self._budget_s, what="save item", lease=self._lease
        )

    async def delete_item(self, item_id: str) -> None:
        """Delete an item; one that was never stored is fine."""

        async def attempt(_: int) -> None:
            try:
                await self._history.delete_item(self._user_id, self._thread_id, item_id)
            except HistoryNotFound:
                log.debug("removed item was never stored", item_id=item_id)

        await with_retries(
            attempt, budget_s=self._budget_s, what="delete item", lease=self._lease
        )

    async def update_run(self, update: RunUpdate) -> RunRecord:
        """Move the run on, with its fencing token."""
        fenced = update.model_copy(update={"fencing_token": self._lease.fencing_token})

        async def attempt(_: int) -> RunRecord:
            return await self._history.update_run(
                self._user_id, self._lease.fence.run_id, fenced
            )

        return await with_retries(
            attempt, budget_s=self._budget_s, what="update run", lease=self._lease
        )
