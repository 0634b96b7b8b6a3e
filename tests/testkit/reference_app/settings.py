"""ReferenceSettings: what the reference app needs to know, from ``REFERENCE_*``."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from testkit.tokens import TEST_JWT_SECRET


class ReferenceSettings(BaseSettings):
    """Configuration of one reference app process (environment variables)."""

    model_config = SettingsConfigDict(env_prefix="REFERENCE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8100
    history_url: str = Field(
        default="http://127.0.0.1:8001",
        description="history service: the default agent keeps the user's tasks there",
    )
    model_base_url: str = Field(
        default="http://127.0.0.1:9100/v1", description="the scripted model's /v1 URL"
    )
    model: str = "fake-model"
    transcribe_model: str = "gpt-4o-mini-transcribe"
    jwt_secret: str = TEST_JWT_SECRET

    @property
    def public_url(self) -> str:
        """Base URL clients reach this app at (upload and preview URLs use it)."""
        return f"http://{self.host}:{self.port}"
