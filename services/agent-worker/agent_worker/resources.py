"""What a worker process shares across all its runs, created once at startup."""

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.attachment_blobs import AttachmentBlobs, open_blobs
from shared.history_client import HistoryClient

from .agent import build_app
from .agent_app import AgentApp
from .control import ControlChannel
from .heartbeats import HeartbeatBatcher
from .providers import ModelChoice, choose_model
from .reaper import Reaper
from .settings import AgentWorkerSettings

PUBLISHER_CLIENT_NAME = "agent-worker.publisher"
PUBLISH_TIMEOUT_S = 5.0
"""A Redis that stops answering pauses publishing instead of hanging a turn."""
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
    control: ControlChannel
    """Cancel signals of the runs this process serves."""
    reaper: Reaper
    heartbeats: HeartbeatBatcher
    """Renews the leases of all the process's runs in one request."""

    async def start(self) -> None:
        """Connect the control channel and start the reaper loop."""
        await self.control.start()
        self.reaper.start()

    async def aclose(self) -> None:
        """Stop the loops, close every client."""
        await self.reaper.stop()
        await self.control.stop()
        await self.heartbeats.aclose()
        await self.history.aclose()
        await self.redis.aclose()
        await self.model.aclose()


def open_resources(settings: AgentWorkerSettings) -> WorkerResources:
    """Build the shared clients, the model and the agent app from settings."""
    model = choose_model(settings)
    history = HistoryClient(
        settings.history_url, internal_token=settings.internal_token
    )
    redis = Redis.from_url(
        settings.redis_url,
        client_name=PUBLISHER_CLIENT_NAME,
        socket_timeout=PUBLISH_TIMEOUT_S,
        socket_connect_timeout=PUBLISH_TIMEOUT_S,
    )
    return WorkerResources(
        settings=settings,
        history=history,
        redis=redis,
        model=model,
        app=build_app(settings.agent, model.model),
        blobs=open_blobs(settings),
        control=ControlChannel(settings.redis_url),
        reaper=Reaper(history, redis, settings),
        heartbeats=HeartbeatBatcher(
            history,
            lease_s=settings.worker_lease_s,
            interval_s=settings.worker_heartbeat_s,
        ),
    )
