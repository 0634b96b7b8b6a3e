"""Envelopes of what a worker publishes on a run's Redis channel."""

from typing import Annotated, Literal

from chatkit.types import ThreadStreamEvent
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


class RunEvent(BaseModel):
    """One ChatKit stream event of a run, numbered from 1 without gaps."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    kind: Literal["event"] = "event"
    run_id: str
    seq: int
    event: ThreadStreamEvent


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
