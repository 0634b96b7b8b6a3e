"""AgentWorkerSettings: the worker's knobs on top of the common settings."""

import os
import socket
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from shared.settings import CommonSettings

ModelApi = Literal["responses", "chat_completions"]


def _default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class AgentWorkerSettings(CommonSettings):
    """Configuration of one agent-worker process (environment variables)."""

    model: str = Field(
        default="",
        description="model name; `litellm/<provider>/<name>` routes through LiteLLM",
    )
    model_api: ModelApi = Field(
        default="responses",
        description="OpenAI-compatible API used with OPENAI_API_KEY/OPENAI_BASE_URL",
    )
    openai_api_key: SecretStr = SecretStr("")
    openai_base_url: str = Field(
        default="", description="any OpenAI-compatible server (vLLM, Ollama, ...)"
    )
    gemini_api_key: SecretStr = SecretStr("")
    gemini_model: str = "gemini-2.5-flash"
    agent: str = Field(
        default="",
        description="`module:attr` of an Agent, an AgentApp, or a factory of either",
    )
    worker_max_jobs: int = Field(default=50, ge=1)
    worker_job_timeout_s: int = Field(default=1800, ge=1)
    worker_name: str = Field(default_factory=_default_worker_name)
    worker_coalesce_ms: int = Field(
        default=30, ge=0, description="window for merging text deltas before publish"
    )
    run_log_maxlen: int = Field(
        default=1000, ge=10, description="approximate length cap of a run's log"
    )
    run_log_ttl_s: int = Field(default=3600, ge=1)
    worker_transcribe_model: str = Field(
        default="gpt-4o-mini-transcribe",
        description="speech-to-text model of input.transcribe (OpenAI-compatible)",
    )
    worker_lease_s: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="a running run's lease; it expires unless a heartbeat renews it",
    )
    worker_heartbeat_s: float = Field(
        default=10.0, gt=0, description="seconds between two heartbeats of a run"
    )
    worker_reap_interval_s: float = Field(
        default=15.0,
        gt=0,
        description="seconds between two sweeps for runs whose lease expired",
    )
    worker_write_retry_s: float = Field(
        default=30.0,
        ge=0,
        description="how long an item write or run update is retried while "
        "history is unavailable",
    )

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Self:
        if self.worker_heartbeat_s >= self.worker_lease_s:
            raise ValueError("WORKER_HEARTBEAT_S must be shorter than WORKER_LEASE_S")
        return self
