"""arq job payloads between gateway and worker, and the replies of the short jobs.

``run_agent`` carries a streaming op: its events travel over the run's Redis
channel. ``sync_custom_action`` and ``transcribe`` are short request/reply jobs:
the worker returns the reply model (as JSON) as the arq job result.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from chatkit.actions import Action
from chatkit.types import ThreadItem
from pydantic import BaseModel, ConfigDict, Field

RUN_AGENT_JOB = "run_agent"
"""arq function name of the agent run job."""
SYNC_ACTION_JOB = "sync_custom_action"
"""arq function name of a widget action answered synchronously."""
TRANSCRIBE_JOB = "transcribe"
"""arq function name of a speech-to-text request."""


class RespondOp(BaseModel):
    """The agent answers the thread as stored (new message, retry, tool output...)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["respond"] = "respond"


class CustomActionOp(BaseModel):
    """A widget (or composer) action for the agent app's action handler."""

    model_config = ConfigDict(frozen=True)

    type: Literal["custom_action"] = "custom_action"
    item_id: str | None = None
    """The widget item the action came from, if any (already checked to be one)."""
    action: Action[str, Any]


RunOp = Annotated[RespondOp | CustomActionOp, Field(discriminator="type")]


class RunJob(BaseModel):
    """One agent turn to run: the thread's stored items are the model input."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    run_id: str
    thread_id: str
    user_id: str
    request_id: str
    enqueued_at: datetime
    """When the gateway enqueued the job; the worker logs pickup latency from it."""
    op: RunOp = Field(default_factory=RespondOp)


class SyncActionJob(BaseModel):
    """``threads.sync_custom_action``: answered by the job's result, not a stream."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    thread_id: str
    user_id: str
    request_id: str
    item_id: str | None = None
    action: Action[str, Any]


class SyncActionReply(BaseModel):
    """Result of a SyncActionJob: the updated item, or an error the user may see."""

    updated_item: ThreadItem | None = None
    error: str | None = None
    """A safe, user-facing message; set when the action was refused or failed."""


class TranscribeJob(BaseModel):
    """``input.transcribe``: audio to text through the configured provider."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    user_id: str
    request_id: str
    audio_base64: str
    mime_type: str


class TranscribeReply(BaseModel):
    """Result of a TranscribeJob."""

    text: str | None = None
    error: Literal["unavailable", "failed"] | None = None
    """``unavailable``: no speech-to-text provider is configured; ``failed``: it
    errored."""
