"""The gateway's run endpoints as a test sees them: status, cancel, event replay.

- ``GET /chatkit/threads/{thread_id}/run`` -> ``RunView`` (active, else latest run)
- ``POST /chatkit/threads/{thread_id}/cancel`` and
  ``POST /chatkit/runs/{run_id}/cancel`` -> ``CancelAnswer``
- ``GET /chatkit/runs/{run_id}/events?after=N&format=chatkit|simple`` -> SSE with
  ``id:`` lines (``Last-Event-ID`` wins over ``after``)

The models are the test's own reading of the contract, so a gateway that drifts
from it fails here rather than agreeing with itself.
"""

import asyncio
import time
from collections.abc import Callable, Container
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from shared.events import RunStatus
from testkit.chatkit_sse import SseRead, read_sse

RUN_ID_HEADER = "x-run-id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
FINAL_STATUSES: frozenset[RunStatus] = frozenset({"completed", "failed", "cancelled"})
POLL_S = 0.05

EventFormat = Literal["chatkit", "simple"]


class RunView(BaseModel):
    """Answer of ``GET /chatkit/threads/{thread_id}/run``."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: RunStatus
    last_seq: int


class CancelAnswer(BaseModel):
    """Answer of both cancel endpoints."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: RunStatus
    cancel_requested: bool


class RunApi:
    """One user's calls to one gateway's run endpoints."""

    def __init__(
        self, http: httpx.AsyncClient, token: str, path: str = "/chatkit"
    ) -> None:
        self.http = http
        self.path = path
        self.headers = {"Authorization": f"Bearer {token}"}

    async def thread_run_response(self, thread_id: str) -> httpx.Response:
        """``GET .../threads/{id}/run`` as it came (no validation)."""
        return await self.http.get(
            f"{self.path}/threads/{thread_id}/run", headers=self.headers
        )

    async def thread_run(self, thread_id: str) -> RunView:
        """The thread's active or latest run; the answer must be 200."""
        response = await self.thread_run_response(thread_id)
        assert response.status_code == 200, (response.status_code, response.text)
        return RunView.model_validate_json(response.content)

    async def cancel_thread_response(self, thread_id: str) -> httpx.Response:
        """``POST .../threads/{id}/cancel`` as it came."""
        return await self.http.post(
            f"{self.path}/threads/{thread_id}/cancel", headers=self.headers
        )

    async def cancel_run_response(self, run_id: str) -> httpx.Response:
        """``POST .../runs/{id}/cancel`` as it came."""
        return await self.http.post(
            f"{self.path}/runs/{run_id}/cancel", headers=self.headers
        )

    async def cancel_thread(self, thread_id: str) -> CancelAnswer:
        """Cancel the thread's run; the answer must be 200."""
        return _cancel_answer(await self.cancel_thread_response(thread_id))

    async def cancel_run(self, run_id: str) -> CancelAnswer:
        """Cancel a run by id; the answer must be 200."""
        return _cancel_answer(await self.cancel_run_response(run_id))

    async def events(
        self,
        run_id: str,
        *,
        fmt: EventFormat = "chatkit",
        after: int | None = None,
        last_event_id: int | None = None,
        stop_when: Callable[[SseRead], bool] | None = None,
        into: SseRead | None = None,
    ) -> SseRead:
        """Replay and follow a run's events (see ``read_sse``)."""
        params: dict[str, str | int] = {"format": fmt}
        if after is not None:
            params["after"] = after
        headers = dict(self.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        return await read_sse(
            self.http,
            "GET",
            f"{self.path}/runs/{run_id}/events",
            headers=headers,
            params=params,
            stop_when=stop_when,
            into=into,
        )

    async def wait_run(
        self,
        thread_id: str,
        statuses: Container[RunStatus] = FINAL_STATUSES,
        *,
        within_s: float = 30.0,
    ) -> RunView:
        """Poll the thread's run until its status is one of ``statuses``."""
        deadline = time.monotonic() + within_s
        while True:
            view = await self.thread_run(thread_id)
            if view.status in statuses:
                return view
            assert time.monotonic() < deadline, f"run still {view} after {within_s} s"
            await asyncio.sleep(POLL_S)


def _cancel_answer(response: httpx.Response) -> CancelAnswer:
    assert response.status_code == 200, (response.status_code, response.text)
    return CancelAnswer.model_validate_json(response.content)
