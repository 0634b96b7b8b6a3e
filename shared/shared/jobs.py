"""The arq job payload that carries one agent run from gateway to worker."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

RUN_AGENT_JOB = "run_agent"
"""arq function name of the agent run job."""


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
