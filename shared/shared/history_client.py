"""HistoryClient: typed calls to history's internal API, used by gateway and worker.

Endpoints (all under ``/v1``, all scoped by the ``X-User-Id`` header):

=======  ====================================  ===============  =======================
method   path                                  body             answer
=======  ====================================  ===============  =======================
PUT      /threads/{thread_id}                  ThreadWrite      204
GET      /threads?limit&after&order&sort       -                ThreadPage
GET      /threads/{thread_id}                  -                ThreadRecord / 404
DELETE   /threads/{thread_id}                  -                204 / 404
GET      /threads/{thread_id}/items?limit&...  -                ItemPage / 404
POST     /threads/{thread_id}/items            ItemWrite        204 / 404 / 409 dup id
PUT      /threads/{thread_id}/items/{item_id}  ItemWrite        204 / 404
GET      /threads/{thread_id}/items/{item_id}  -                ItemRecord / 404
DELETE   /threads/{thread_id}/items/{item_id}  -                204 / 404
PUT      /threads/{thread_id}/feedback         FeedbackWrite    204 / 404
PUT      /attachments/{attachment_id}          AttachmentWrite  204
GET      /attachments/{attachment_id}          -                AttachmentWrite / 404
DELETE   /attachments/{attachment_id}          -                204 / 404
POST     /runs                                 RunOpen          201 (200 reused)/404/409
GET      /runs/by-key/{idempotency_key}        -                RunRecord / 404
GET      /runs/{run_id}                        -                RunRecord / 404
PATCH    /runs/{run_id}                        RunUpdate        RunRecord/404/409
POST     /runs/{run_id}/claim                  RunClaim         RunClaimed/404/409
POST     /runs/{run_id}/heartbeat              RunHeartbeat     RunRecord/404/409
POST     /runs/heartbeats (users in the body)  RunHeartbeats    RunHeartbeatsAnswer
POST     /runs/{run_id}/cancel                 -                RunRecord / 404
GET      /threads/{thread_id}/runs/latest      -                RunRecord / 404
POST     /runs/reap  (no user: internal sweep) -                ExpiredRuns
GET      /tasks                                -                TaskList
POST     /tasks                                TaskCreate       201 TaskRecord
PATCH    /tasks/{task_id}                      TaskUpdate       TaskRecord / 404
DELETE   /tasks/{task_id}                      -                204 / 404
=======  ====================================  ===============  =======================
"""

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from chatkit.store import NotFoundError
from chatkit.types import Attachment, ThreadItem, ThreadMetadata
from pydantic import BaseModel

from shared.history_api import (
    TOKEN_HEADER,
    USER_HEADER,
    AttachmentWrite,
    ExpiredRuns,
    FeedbackWrite,
    ItemPage,
    ItemRecord,
    ItemWrite,
    Order,
    RunClaim,
    RunClaimed,
    RunFence,
    RunHeartbeat,
    RunHeartbeats,
    RunHeartbeatsAnswer,
    RunOpen,
    RunRecord,
    RunUpdate,
    TaskCreate,
    TaskList,
    TaskRecord,
    TaskUpdate,
    ThreadPage,
    ThreadRecord,
    ThreadSort,
    ThreadWrite,
    ToolCallRecord,
)

M = TypeVar("M", bound=BaseModel)


class HistoryError(Exception):
    """history answered with an unexpected status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"history answered {status}: {detail}")
        self.status = status
        self.detail = detail
        """The answer's body (an ``ErrorBody`` as JSON, from history itself)."""


class HistoryNotFound(NotFoundError):
    """The thread, item, run or task does not exist for this user."""


class HistoryConflict(HistoryError):
    """An insert collided with an existing id, or the thread already has a run."""


class HistoryClient:
    """One pooled httpx client to history; share it across requests."""

    def __init__(
        self,
        base_url: str,
        *,
        internal_token: str = "",
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {TOKEN_HEADER: internal_token} if internal_token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/v1",
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        user_id: str | None,
        *,
        body: BaseModel | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        content = (
            body.model_dump_json(by_alias=True, exclude_none=True)
            if body is not None
            else None
        )
        response = await self._http.request(
            method,
            path,
            content=content,
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers={
                **({USER_HEADER: user_id} if user_id is not None else {}),
                "content-type": "application/json",
            },
        )
        if response.status_code == 404:
            raise HistoryNotFound(response.text)
        if response.status_code == 409:
            raise HistoryConflict(409, response.text)
        if response.status_code >= 400:
            raise HistoryError(response.status_code, response.text)
        return response

    @staticmethod
    def _parse(response: httpx.Response, model: type[M]) -> M:
        return model.model_validate_json(response.content)

    # threads

    async def save_thread(self, user_id: str, thread: ThreadMetadata) -> None:
        """Create or overwrite a thread."""
        await self._call(
            "PUT", f"/threads/{thread.id}", user_id, body=ThreadWrite(thread=thread)
        )

    async def list_threads(
        self,
        user_id: str,
        *,
        limit: int = 20,
        after: str | None = None,
        order: Order = "desc",
        sort: ThreadSort = "created_at",
    ) -> ThreadPage:
        """A page of the user's threads."""
        params = {"limit": limit, "after": after, "order": order, "sort": sort}
        response = await self._call("GET", "/threads", user_id, params=params)
        return self._parse(response, ThreadPage)

    async def get_thread(self, user_id: str, thread_id: str) -> ThreadRecord:
        """One thread; ``HistoryNotFound`` if it is not the user's."""
        response = await self._call("GET", f"/threads/{thread_id}", user_id)
        return self._parse(response, ThreadRecord)

    async def delete_thread(self, user_id: str, thread_id: str) -> None:
        """Delete a thread with its items and runs."""
        await self._call("DELETE", f"/threads/{thread_id}", user_id)

    # items

    async def list_items(
        self,
        user_id: str,
        thread_id: str,
        *,
        limit: int = 20,
        after: str | None = None,
        order: Order = "asc",
    ) -> ItemPage:
        """A page of a thread's items, hidden ones included."""
        params = {"limit": limit, "after": after, "order": order}
        response = await self._call(
            "GET", f"/threads/{thread_id}/items", user_id, params=params
        )
        return self._parse(response, ItemPage)

    async def add_item(
        self,
        user_id: str,
        thread_id: str,
        item: ThreadItem,
        tool_calls: list[ToolCallRecord] | None = None,
        fence: RunFence | None = None,
    ) -> None:
        """Insert an item; ``HistoryConflict`` if its id exists or the run is stale."""
        body = ItemWrite(item=item, tool_calls=tool_calls or [], fence=fence)
        await self._call("POST", f"/threads/{thread_id}/items", user_id, body=body)

    async def save_item(
        self,
        user_id: str,
        thread_id: str,
        item: ThreadItem,
        tool_calls: list[ToolCallRecord] | None = None,
        fence: RunFence | None = None,
    ) -> None:
        """Insert or overwrite an item by id; ``HistoryConflict`` if run is stale."""
        body = ItemWrite(item=item, tool_calls=tool_calls or [], fence=fence)
        await self._call(
            "PUT", f"/threads/{thread_id}/items/{item.id}", user_id, body=body
        )

    async def get_item(self, user_id: str, thread_id: str, item_id: str) -> ItemRecord:
        """One item of a thread."""
        response = await self._call(
            "GET", f"/threads/{thread_id}/items/{item_id}", user_id
        )
        return self._parse(response, ItemRecord)

    async def delete_item(self, user_id: str, thread_id: str, item_id: str) -> None:
        """Delete one item of a thread."""
        await self._call("DELETE", f"/threads/{thread_id}/items/{item_id}", user_id)

    async def save_feedback(
        self, user_id: str, thread_id: str, feedback: FeedbackWrite
    ) -> None:
        """Record the user's feedback on items of a thread (last verdict wins)."""
        await self._call(
            "PUT", f"/threads/{thread_id}/feedback", user_id, body=feedback
        )

    # attachments

    async def save_attachment(self, user_id: str, attachment: Attachment) -> None:
        """Create or overwrite an attachment's metadata."""
        body = AttachmentWrite(attachment=attachment)
        await self._call("PUT", f"/attachments/{attachment.id}", user_id, body=body)

    async def get_attachment(self, user_id: str, attachment_id: str) -> Attachment:
        """One attachment's metadata."""
        response = await self._call("GET", f"/attachments/{attachment_id}", user_id)
        attachment: Attachment = self._parse(response, AttachmentWrite).attachment
        return attachment

    async def delete_attachment(self, user_id: str, attachment_id: str) -> None:
        """Delete an attachment's metadata."""
        await self._call("DELETE", f"/attachments/{attachment_id}", user_id)

    # runs

    async def open_run(self, user_id: str, run: RunOpen) -> RunRecord:
        """Store the input and open a run in one commit; ``HistoryConflict`` if busy."""
        response = await self._call("POST", "/runs", user_id, body=run)
        return self._parse(response, RunRecord)

    async def get_run(self, user_id: str, run_id: str) -> RunRecord:
        """One run."""
        response = await self._call("GET", f"/runs/{run_id}", user_id)
        return self._parse(response, RunRecord)

    async def run_by_idempotency_key(self, user_id: str, key: str) -> RunRecord:
        """The run an open with this ``idempotency_key`` started; ``HistoryNotFound``
        if the user has none."""
        # Every character encoded: a key may hold "/", "?", "#" or be "..".
        path = f"/runs/by-key/{quote(key, safe='').replace('.', '%2E')}"
        response = await self._call("GET", path, user_id)
        return self._parse(response, RunRecord)

    async def update_run(
        self, user_id: str, run_id: str, update: RunUpdate
    ) -> RunRecord:
        """Mark a run running or finished."""
        response = await self._call("PATCH", f"/runs/{run_id}", user_id, body=update)
        return self._parse(response, RunRecord)

    async def claim_run(self, user_id: str, run_id: str, claim: RunClaim) -> RunClaimed:
        """Move a queued run to running and read its thread and first items;
        ``HistoryConflict`` if it is not a queued run with a live lease."""
        response = await self._call(
            "POST", f"/runs/{run_id}/claim", user_id, body=claim
        )
        return self._parse(response, RunClaimed)

    async def heartbeat(
        self, user_id: str, run_id: str, beat: RunHeartbeat
    ) -> RunRecord:
        """Extend the run's lease; ``HistoryConflict`` once the run is stale or over."""
        response = await self._call(
            "POST", f"/runs/{run_id}/heartbeat", user_id, body=beat
        )
        return self._parse(response, RunRecord)

    async def heartbeats(self, batch: RunHeartbeats) -> RunHeartbeatsAnswer:
        """Extend the leases of many runs (of any users) in one request; each
        run is answered with its new lease, or ``lost`` once stale or over."""
        response = await self._call("POST", "/runs/heartbeats", None, body=batch)
        return self._parse(response, RunHeartbeatsAnswer)

    async def request_cancel(self, user_id: str, run_id: str) -> RunRecord:
        """Persist a stop request for an active run; a finished run is unchanged."""
        response = await self._call("POST", f"/runs/{run_id}/cancel", user_id)
        return self._parse(response, RunRecord)

    async def latest_run(self, user_id: str, thread_id: str) -> RunRecord:
        """The thread's active run, else its newest; ``HistoryNotFound`` if none."""
        response = await self._call("GET", f"/threads/{thread_id}/runs/latest", user_id)
        return self._parse(response, RunRecord)

    async def reap_expired_runs(self) -> ExpiredRuns:
        """Mark every run whose lease ran out failed (any user); internal sweep."""
        response = await self._call("POST", "/runs/reap", None)
        return self._parse(response, ExpiredRuns)

    # tasks

    async def list_tasks(self, user_id: str) -> TaskList:
        """The user's tasks, oldest first."""
        response = await self._call("GET", "/tasks", user_id)
        return self._parse(response, TaskList)

    async def create_task(self, user_id: str, task: TaskCreate) -> TaskRecord:
        """Add a task."""
        response = await self._call("POST", "/tasks", user_id, body=task)
        return self._parse(response, TaskRecord)

    async def update_task(
        self, user_id: str, task_id: str, update: TaskUpdate
    ) -> TaskRecord:
        """Change a task."""
        response = await self._call("PATCH", f"/tasks/{task_id}", user_id, body=update)
        return self._parse(response, TaskRecord)

    async def delete_task(self, user_id: str, task_id: str) -> None:
        """Delete a task."""
        await self._call("DELETE", f"/tasks/{task_id}", user_id)
