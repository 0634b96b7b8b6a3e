"""Envelopes of what a worker publishes on a run's Redis channel."""

from typing import Annotated, Literal

from chatkit.types import ThreadStreamEvent
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


class ToolActivity(BaseModel):
    """Structured view of a server tool call, attached to the event that shows it.

    The ChatKit face ignores it (the event itself shows the call as a workflow
    task); the simple SSE face turns it into ``tool_call`` / ``tool_result``.
    """

    model_config = ConfigDict(frozen=True)

    phase: Literal["call", "result"]
    call_id: str
    name: str
    arguments: str = ""
    """JSON text of the call's arguments (phase ``call``)."""
    result: str = ""
    """The tool's output as text (phase ``result``)."""


class RunEvent(BaseModel):
    """One ChatKit stream event of a run, numbered from 1 without gaps."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    kind: Literal["event"] = "event"
    run_id: str
    seq: int
    event: ThreadStreamEvent
    tool: ToolActivity | None = None


class RunEnded(BaseModel):
    """Last message of a run: the relay closes the client stream on it."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    kind: Literal["end"] = "end"
    run_id: str
    seq: int
    status: RunStatus


RunMessage = Annotated[RunEvent | RunEnded, Field(discriminator="kind")]

RUN_MESSAGE_ADAPTER: TypeAdapter[RunEvent | RunEnded] = TypeAdapter(RunMessage)
"""Built once: parse a published message with ``validate_json``."""


def dump_run_message(message: RunEvent | RunEnded) -> bytes:
    """Serialize the way ChatKit does: aliases on, ``None`` fields left out."""
    return message.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    ).encode()
