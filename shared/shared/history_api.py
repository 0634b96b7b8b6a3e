"""Bodies of history's internal HTTP API, shared by history and its clients.

Every call is scoped by the user id in the ``X-User-Id`` header; another user's
thread, item, attachment, run or task is a 404, never a 403.
"""

from datetime import datetime
from typing import Literal

from chatkit.types import Attachment, FeedbackKind, ThreadItem, ThreadMetadata
from pydantic import BaseModel, ConfigDict, Field

from shared.events import RunStatus

USER_HEADER = "X-User-Id"
TOKEN_HEADER = "X-Internal-Token"

Order = Literal["asc", "desc"]
ThreadSort = Literal["created_at", "updated_at"]


class ToolCallRecord(BaseModel):
    """One server-side tool call of a turn and its result, kept for the next turn."""

    model_config = ConfigDict(frozen=True)

    call_id: str
    name: str
    arguments: str
    """JSON text exactly as the model produced it."""
    output: str


class ThreadRecord(BaseModel):
    """A stored thread (conversation) with its bookkeeping."""

    thread: ThreadMetadata
    updated_at: datetime
    active_run_id: str | None = None
    """The queued or running run of this thread (lease not expired), if any."""


class ThreadPage(BaseModel):
    """A page of threads; ``after`` is the cursor for the next page."""

    data: list[ThreadRecord] = Field(default_factory=list)
    has_more: bool = False
    after: str | None = None


class ThreadWrite(BaseModel):
    """Create or overwrite a thread (ChatKit ``save_thread``)."""

    thread: ThreadMetadata


class ItemRecord(BaseModel):
    """A stored thread item; ``tool_calls`` holds the turn's server tool calls."""

    item: ThreadItem
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    role: str = ""
    """Seed column: ``user``, ``assistant``, ``tool``, ``system`` or the item type."""
    content: str = ""
    """Seed column: the item's plain text (empty for items without text)."""
    feedback: FeedbackKind | None = None
    """The requesting user's feedback on this item (``items.feedback``)."""


class ItemPage(BaseModel):
    """A page of items in (created_at, insertion) order."""

    data: list[ItemRecord] = Field(default_factory=list)
    has_more: bool = False
    after: str | None = None


class RunFence(BaseModel):
    """Sent with a worker's item writes: refused (409 ``stale_run``) unless the run
    is still the thread's active run with this token."""

    run_id: str
    fencing_token: int


class ItemWrite(BaseModel):
    """Insert (POST) or upsert (PUT) one item of a thread."""

    item: ThreadItem
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    fence: RunFence | None = None
    """A worker's writes carry its run's fence; a stale run's write is refused."""


class AttachmentWrite(BaseModel):
    """Create or overwrite an attachment's metadata."""

    attachment: Attachment


RunKind = Literal[
    "create", "add_user_message", "client_tool_output", "structured_input",
    "retry", "custom_action", "simple",
]  # fmt: skip


class RunOpen(BaseModel):
    """Open a run, durable first: thread (if new), user item and run in one commit."""

    thread_id: str
    new_thread: ThreadMetadata | None = None
    """Set for ``threads.create``: the thread is inserted in the same transaction."""
    user_item: ThreadItem | None = None
    save_items: list[ThreadItem] = Field(default_factory=list)
    """Items upserted in the same commit (a completed client tool call, an
    answered structured input)."""
    delete_item_ids: list[str] = Field(default_factory=list)
    """Items deleted in the same commit (dangling pending client tool calls)."""
    truncate_after_item_id: str | None = None
    """``threads.retry_after_item``: every item after this one is deleted."""
    lease_s: int = 1800
    """A run whose lease expired no longer blocks its thread. Until a worker's
    first heartbeat this is the time the run may wait in the queue."""
    kind: RunKind = "add_user_message"
    """What started the run; a reattaching gateway rebuilds its opening frames."""
    idempotency_key: str | None = Field(default=None, max_length=200)
    """``Idempotency-Key`` of the request: a second open with the same key (same
    user) returns the first run (``RunRecord.reused``) and writes nothing."""


class RunRecord(BaseModel):
    """A stored agent run."""

    id: str
    thread_id: str
    status: RunStatus
    fencing_token: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    worker: str | None = None
    """Name of the worker process that picked the run up."""
    kind: RunKind = "add_user_message"
    user_item_id: str | None = None
    """The user item the run was opened with, if any."""
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    """Someone asked to stop the run (persisted: pub/sub may drop the signal)."""
    last_seq: int = 0
    """Last event sequence number, recorded when the run ends."""
    reused: bool = False
    """Only in an ``open_run`` answer: the idempotency key matched this run."""


class RunUpdate(BaseModel):
    """Move a run to ``running`` or a final status."""

    status: RunStatus
    error: str | None = None
    worker: str | None = None
    fencing_token: int | None = None
    """When set, the update is refused (409 ``stale_run``) unless it matches."""
    last_seq: int | None = None
    lease_s: int | None = Field(default=None, ge=1, le=3600)
    """Moving to ``running``: the lease the worker asks for (else history's default)."""


class RunClaim(BaseModel):
    """A worker's pickup of a queued run: move it to ``running`` and read its input."""

    worker: str
    """Name of the worker process picking the run up."""
    lease_s: int = Field(ge=1, le=3600)
    """The running lease the worker asks for."""


class RunClaimed(BaseModel):
    """A claimed run with what its turn reads, all from one transaction."""

    run: RunRecord
    thread: ThreadRecord
    items: ItemPage
    """The thread's first items (oldest first); page on with ``items.after``."""


class RunHeartbeat(BaseModel):
    """A worker's proof of life: extends the lease if the token is still current."""

    fencing_token: int
    lease_s: int = Field(default=30, ge=1, le=3600)


MAX_BEATS = 1000
"""Runs one ``POST /v1/runs/heartbeats`` may renew; a worker sends more in parts."""


class RunBeat(BaseModel):
    """One run in a worker's batch of heartbeats: whose it is and its fence."""

    run_id: str
    user_id: str
    fencing_token: int


class RunHeartbeats(BaseModel):
    """A worker's heartbeat for every run it holds, in one request."""

    lease_s: int = Field(default=30, ge=1, le=3600)
    runs: list[RunBeat] = Field(max_length=MAX_BEATS)


class RunBeaten(BaseModel):
    """One run's answer to a batch heartbeat, as ``RunHeartbeat`` would have it."""

    run_id: str
    lost: bool
    """The token no longer holds the thread (stale, run over, expired, or not
    the user's run): the 409/404 of a single heartbeat."""
    lease_expires_at: datetime | None = None
    """The renewed lease; None when lost."""
    cancel_requested: bool = False


class RunHeartbeatsAnswer(BaseModel):
    """Every run of a ``RunHeartbeats``, in its order."""

    data: list[RunBeaten]


class ExpiredRuns(BaseModel):
    """Runs whose lease ran out, just marked failed by ``POST /v1/runs/reap``."""

    data: list[RunRecord] = Field(default_factory=list)


class TaskRecord(BaseModel):
    """An entry of the user's task list (the default agent's tools work on it)."""

    id: str
    title: str
    notes: str = ""
    done: bool = False
    created_at: datetime
    updated_at: datetime


class TaskCreate(BaseModel):
    """A new task."""

    title: str = Field(min_length=1, max_length=500)
    notes: str = Field(default="", max_length=5000)


class TaskUpdate(BaseModel):
    """Fields of a task to change; omitted fields stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    notes: str | None = Field(default=None, max_length=5000)
    done: bool | None = None


class TaskList(BaseModel):
    """The user's tasks, oldest first."""

    data: list[TaskRecord] = Field(default_factory=list)


class FeedbackWrite(BaseModel):
    """``items.feedback``: the user's verdict on some items of a thread."""

    item_ids: list[str] = Field(min_length=1, max_length=100)
    kind: FeedbackKind


class ErrorBody(BaseModel):
    """JSON error body of every 4xx answer."""

    error: str
    detail: str = ""
