"""Settings every service reads: the contract names of ARCHITECTURE section 7."""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Configuration shared by gateway, agent-worker and history.

    Built once in each service's ``__main__`` and passed down; nothing reads the
    environment at import time.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    redis_url: str = "redis://127.0.0.1:6379/0"
    history_url: str = "http://127.0.0.1:8001"
    queue_name: str = Field(
        default="cks:queue",
        description="arq queue; gateways and the workers that serve them share it",
    )
    internal_token: str = Field(
        default="",
        description="shared secret for history's internal API; empty = no check",
    )

    attachments_backend: Literal["local", "s3"] = "local"
    attachments_dir: Path = Path(".data/attachments")
    """Folder of attachment bytes (backend ``local``); shared by gateway and worker."""
    attachments_s3_bucket: str = ""
    attachments_s3_endpoint_url: str = ""
    """Empty for AWS; the URL of MinIO, R2 or another S3-compatible service."""
    attachments_s3_prefix: str = "attachments/"

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> "CommonSettings":
        if self.attachments_backend == "s3" and not self.attachments_s3_bucket:
            raise ValueError("ATTACHMENTS_S3_BUCKET must be set when backend is s3")
        return self

    @model_validator(mode="after")
    def _internal_token_outside_development(self) -> "CommonSettings":
        if self.env == "production" and not self.internal_token:
            raise ValueError("INTERNAL_TOKEN must be set when ENV=production")
        return self
