"""BUSY_POLICY: what a streaming request on a thread with an active run gets.

- ``reject`` (default): ``ThreadBusyError`` at once; the route streams one
  ChatKit ``error`` event and nothing is stored.
- ``enqueue``: wait for the active run to end (at most GATEWAY_BUSY_WAIT_S),
  then open; still busy after the wait: rejected.
- ``interrupt``: cancel the active run, wait for it to end, then open.

The wait happens before the response starts (durable first: the stream's
first frames describe the stored input, which does not exist yet). The whole
attempt is repeated after the wait, checks included: the thread may look
different once the other run is done.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from gateway.auth import User
from gateway.cancel import cancel_run
from gateway.relay import RelayUnavailableError
from gateway.run_watch import is_active, lease_expired, reap_expired
from gateway.runs import ThreadBusyError
from gateway.state import State
from gateway.subscription import Subscription
from shared.events import RunEnded
from shared.history_client import HistoryNotFound

log = structlog.get_logger(__name__)

T = TypeVar("T")

POLL_S = 0.5
"""history is asked this often while waiting; a run's end on its channel wakes
the wait at once."""


async def open_when_free(
    state: State, user: User, attempt: Callable[[], Awaitable[T]]
) -> T:
    """``attempt()`` under the deployment's busy policy."""
    settings = state["settings"]
    try:
        return await attempt()
    except ThreadBusyError as busy:
        if settings.busy_policy == "reject":
            raise
        thread_id = busy.thread_id
    deadline = time.monotonic() + settings.gateway_busy_wait_s
    while True:
        if not await _wait_for_thread(state, user, thread_id, deadline):
            raise ThreadBusyError(thread_id)
        try:
            return await attempt()
        except ThreadBusyError:
            if time.monotonic() >= deadline:
                raise


async def _wait_for_thread(
    state: State, user: User, thread_id: str, deadline: float
) -> bool:
    """Wait for the thread's active run to end (cancelled first if interrupting)."""
    try:
        run = await state["history"].latest_run(user.id, thread_id)
    except HistoryNotFound:
        return True  # no run at all: the next attempt finds out what is wrong
    if not is_active(run):
        return True
    if state["settings"].busy_policy == "interrupt":
        await cancel_run(state, user.id, run.id)
    log.info("busy_thread_waiting", waited_for=run.id)
    return await wait_for_end(state, user, run.id, deadline)


async def wait_for_end(state: State, user: User, run_id: str, deadline: float) -> bool:
    """Whether the run ended before ``deadline`` (a monotonic time)."""
    try:
        subscription: Subscription | None = await state["relay"].subscribe(run_id)
    except RelayUnavailableError:
        subscription = None  # history alone still tells when it ends
    try:
        while True:
            if await _ended(state, user, run_id):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await _quiet(subscription, min(POLL_S, remaining))
    finally:
        if subscription is not None:
            subscription.close()


async def _ended(state: State, user: User, run_id: str) -> bool:
    run = await state["history"].get_run(user.id, run_id)
    if lease_expired(run):
        await reap_expired(state)  # its worker is gone: free the thread now
        return True
    return not is_active(run)


async def _quiet(subscription: Subscription | None, timeout_s: float) -> None:
    """Sleep ``timeout_s``, or less if the run's end (or a drop) arrives."""
    if subscription is None or subscription.closed:
        await asyncio.sleep(timeout_s)
        return
    try:
        async with asyncio.timeout(timeout_s):
            while not isinstance(await subscription.get(), RunEnded):
                pass
    except TimeoutError:
        return
