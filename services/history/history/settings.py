"""HistorySettings: what the history service reads from its environment."""

from pydantic import Field, model_validator

from shared.settings import CommonSettings


class HistorySettings(CommonSettings):
    """history's configuration; built once in ``__main__`` and passed down."""

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="asyncpg DSN; the unix-socket form ?host=/dir works too",
    )
    history_host: str = "127.0.0.1"
    history_port: int = Field(default=8001, ge=1, le=65535)
    history_pool_min: int = Field(default=1, ge=0)
    history_pool_max: int = Field(default=10, ge=1)
    history_statement_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="server-side cap per statement, so a stuck query frees its slot",
    )
    history_running_lease_s: int = Field(
        default=30,
        ge=1,
        le=86_400,
        description="lease a run gets when it starts running; heartbeats extend it",
    )

    @model_validator(mode="after")
    def _pool_bounds(self) -> "HistorySettings":
        if self.history_pool_min > self.history_pool_max:
            raise ValueError("HISTORY_POOL_MIN must not exceed HISTORY_POOL_MAX")
        return self
