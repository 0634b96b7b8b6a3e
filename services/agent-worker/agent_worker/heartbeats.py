"""One heartbeat request per worker process for every run it holds.

Each run's guard joins the batcher while it watches its run. The batcher
wakes every interval and renews all its members' leases in one request
(`POST /v1/runs/heartbeats`, in parts of `MAX_BEATS` runs), then hands each
member its answer: its renewed lease, lost, or none (history could not be
asked). After a failed request the next one comes sooner. The loop runs only
while it has members.
"""

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import structlog

from shared.history_api import MAX_BEATS, RunBeat, RunBeaten, RunHeartbeats
from shared.history_client import HistoryClient

RETRY_S = 1.0
"""A failed heartbeat request is tried again after at most this long."""

log = structlog.get_logger("agent_worker.heartbeats")


@dataclass(frozen=True)
class BeatAnswer:
    """What one heartbeat request answered for one run."""

    beaten: RunBeaten | None
    """The run's answer; None if history could not be asked."""
    asked_at: float
    """When the request was sent (monotonic clock): the renewed lease counts
    from there."""


OnAnswer = Callable[[BeatAnswer], None]


@dataclass(eq=False)
class _Member:
    beat: RunBeat
    on_answer: OnAnswer


class HeartbeatBatcher:
    """Renews the leases of every run of this process, one request per interval."""

    def __init__(
        self, history: HistoryClient, *, lease_s: int, interval_s: float
    ) -> None:
        self.lease_s = lease_s
        """The lease every heartbeat asks for."""
        self._history = history
        self._interval_s = interval_s
        self._members: dict[_Member, None] = {}
        """In joining order (a dict as an ordered set)."""
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def join(self, beat: RunBeat, on_answer: OnAnswer) -> Iterator[None]:
        """Heartbeat `beat`'s run while inside; each answer goes to `on_answer`
        (called in the batcher's task, so it must not block)."""
        member = _Member(beat, on_answer)
        self._members[member] = None
        if self._task is None or self._task.done():
            # A context of its own: not the joining run's log context.
            self._task = asyncio.create_task(
                self._beat_while_members(), context=contextvars.Context()
            )
        try:
            yield
        finally:
            self._leave(member)

    async def aclose(self) -> None:
        """Stop heartbeating (the worker is shutting down)."""
        self._members.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _leave(self, member: _Member) -> None:
        del self._members[member]
        if not self._members and self._task is not None:
            # Nobody left to renew: a request in flight is for runs that ended.
            self._task.cancel()
            self._task = None

    async def _beat_while_members(self) -> None:
        wait_s = self._interval_s
        while True:
            await asyncio.sleep(wait_s)
            sent = await self._beat_all()
            wait_s = self._interval_s if sent else min(self._interval_s, RETRY_S)

    async def _beat_all(self) -> bool:
        """One request per `MAX_BEATS` members; whether every one was answered."""
        members = list(self._members)
        parts = [
            members[start : start + MAX_BEATS]
            for start in range(0, len(members), MAX_BEATS)
        ]
        answered = await asyncio.gather(*(self._beat_part(part) for part in parts))
        return all(answered)

    async def _beat_part(self, members: list[_Member]) -> bool:
        batch = RunHeartbeats(lease_s=self.lease_s, runs=[m.beat for m in members])
        asked_at = time.monotonic()
        try:
            answer = await self._history.heartbeats(batch)
        except Exception as error:
            log.warning(
                "heartbeat failed", error_type=type(error).__name__, runs=len(members)
            )
            answer = None
        if answer is None or len(answer.data) != len(members):
            self._deliver(members, [None] * len(members), asked_at)
            return False
        self._deliver(members, answer.data, asked_at)
        return True

    def _deliver(
        self,
        members: list[_Member],
        answers: Sequence[RunBeaten | None],
        asked_at: float,
    ) -> None:
        for member, beaten in zip(members, answers, strict=True):
            if member in self._members:  # not if its run ended meanwhile
                member.on_answer(BeatAnswer(beaten, asked_at))
