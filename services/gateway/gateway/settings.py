"""GatewaySettings: auth, CORS and the gateway's own knobs."""

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gateway.media_types import CHECKED_IMAGE_TYPES, is_image, media_type
from shared.settings import CommonSettings

DEV_JWT_SECRET = "development-only-jwt-secret-do-not-deploy-0123456789"
"""Used when ENV=development and no secret is set; the dev token printer signs with it.

At least 32 bytes: PyJWT warns about shorter HS256 keys.
"""

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "jwt-secret", "your-secret"}
)

MIN_PRODUCTION_SECRET_LEN = 32

OnDisconnect = Literal["continue", "cancel"]
BusyPolicy = Literal["reject", "enqueue", "interrupt"]

DEFAULT_ATTACHMENT_MIME_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
)


class GatewaySettings(CommonSettings):
    """Configuration of one gateway process, read from the environment once."""

    # An empty JWT_SECRET= line must not hide a BETTER_AUTH_SECRET that is set.
    model_config = SettingsConfigDict(populate_by_name=True, env_ignore_empty=True)

    jwt_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("jwt_secret", "better_auth_secret"),
        description="HS256 key (env JWT_SECRET, or BETTER_AUTH_SECRET as an alias)",
    )
    jwt_audience: str | None = Field(
        default=None, description="required `aud` claim; unset = not checked"
    )
    jwt_issuer: str | None = Field(
        default=None, description="required `iss` claim; unset = not checked"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated browser origins allowed to call the gateway",
    )
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    gateway_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        description="seconds of silence before an SSE keepalive comment",
    )
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest accepted request body"
    )
    gateway_queued_lease_s: int = Field(
        default=300,
        ge=10,
        description="seconds a new run may wait for a worker before it is reaped",
    )
    on_disconnect: OnDisconnect = Field(
        default="continue",
        validation_alias=AliasChoices("on_disconnect", "gateway_on_disconnect"),
        description="client gone mid-stream: the run continues, or is cancelled",
    )
    busy_policy: BusyPolicy = Field(
        default="reject",
        validation_alias=AliasChoices("busy_policy", "gateway_busy_policy"),
        description="a streaming request on a thread with an active run",
    )
    gateway_busy_wait_s: float = Field(
        default=120.0,
        ge=0,
        description="longest wait for the active run to end (enqueue, interrupt)",
    )
    run_log_maxlen: int = Field(
        default=1000, ge=10, description="approximate length cap of a run's log"
    )
    run_log_ttl_s: int = Field(
        default=3600, ge=1, description="lifetime of a run's log and cancel flag"
    )
    gateway_attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="largest accepted attachment"
    )
    gateway_attachment_mime_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_MIME_TYPES),
        description="comma-separated MIME types an attachment may have",
    )
    gateway_public_url: str | None = Field(
        default=None,
        description="base URL of upload and preview links; unset = from the request",
    )
    gateway_upload_link_ttl_s: int = Field(
        default=3600,
        ge=60,
        description="seconds a signed upload or preview link stays valid",
    )
    gateway_sync_job_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="seconds to wait for a worker's sync action or transcription",
    )
    gateway_transcribe_max_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1, description="largest accepted audio clip"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _refuse_wildcard_origin(cls, value: list[str]) -> list[str]:
        if "*" in value:
            # Browsers refuse `*` on credentialed requests; list the origins instead.
            raise ValueError("CORS_ORIGINS may not be '*'; list the allowed origins")
        return value

    @field_validator("gateway_attachment_mime_types", mode="before")
    @classmethod
    def _split_mime_types(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("gateway_attachment_mime_types")
    @classmethod
    def _known_image_types_only(cls, value: list[str]) -> list[str]:
        types = [media_type(part) for part in value]
        unchecked = [t for t in types if is_image(t) and t not in CHECKED_IMAGE_TYPES]
        if unchecked:
            # An image is served back as a preview: only formats whose bytes we
            # can check (never SVG, which can carry script).
            raise ValueError(
                f"GATEWAY_ATTACHMENT_MIME_TYPES: image types are limited to "
                f"{', '.join(sorted(CHECKED_IMAGE_TYPES))}; got {', '.join(unchecked)}"
            )
        return types

    @field_validator("gateway_public_url")
    @classmethod
    def _public_url_without_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("GATEWAY_PUBLIC_URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> "GatewaySettings":
        secret = self.jwt_secret.get_secret_value()
        if self.env == "development":
            if not secret:
                self.jwt_secret = SecretStr(DEV_JWT_SECRET)
            return self
        if secret.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "JWT_SECRET (or BETTER_AUTH_SECRET) must be set to a real secret "
                "unless ENV=development"
            )
        if self.env == "production" and len(secret) < MIN_PRODUCTION_SECRET_LEN:
            raise ValueError(
                f"JWT_SECRET must be at least {MIN_PRODUCTION_SECRET_LEN} characters "
                "when ENV=production"
            )
        return self

    @property
    def uses_insecure_secret(self) -> bool:
        """Whether the JWT secret is the development default or a placeholder."""
        secret = self.jwt_secret.get_secret_value()
        return secret == DEV_JWT_SECRET or secret.lower() in PLACEHOLDER_SECRETS
