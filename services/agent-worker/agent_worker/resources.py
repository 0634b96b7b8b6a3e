"""What a worker process shares across all its runs, created once at startup."""

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.attachment_blobs import AttachmentBlobs, open_blobs
from shared.history_client import HistoryClient

from .agent import build_app
from .agent_app import AgentApp
from .providers import ModelChoice, choose_model
from .settings import AgentWorkerSettings

PUBLISHER_CLIENT_NAME = "agent-worker.publisher"
RESOURCES_KEY = "agent_worker.resources"
"""Key of the WorkerResources in arq's ctx dict."""


@dataclass
class WorkerResources:
    """Shared clients, the model and the agent app of one worker process."""

    settings: AgentWorkerSettings
    history: HistoryClient
    redis: "Redis"
    model: ModelChoice
    app: AgentApp
    blobs: AttachmentBlobs
    """Attachment bytes, read into the model input."""

    async def aclose(self) -> None:
        """Close every client."""
        await self.history.aclose()
        await self.redis.aclose()
        await self.model.aclose()


def open_resources(settings: AgentWorkerSettings) -> WorkerResources:
    """Build the shared clients, the model and the agent app from settings."""
    model = choose_model(settings)
    return WorkerResources(
        settings=settings,
        history=HistoryClient(
            settings.history_url, internal_token=settings.internal_token
        ),
        redis=Redis.from_url(settings.redis_url, client_name=PUBLISHER_CLIENT_NAME),
        model=model,
        app=build_app(settings.agent, model.model),
        blobs=open_blobs(settings),
    )
