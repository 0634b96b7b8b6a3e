"""The typed lifespan State and the dependencies that read it."""

from typing import Annotated, Any, TypedDict, cast

from fastapi import Depends, Request
from redis.asyncio import Redis

from gateway.relay import Relay
from gateway.settings import GatewaySettings
from gateway.upload_links import LinkSigner
from shared.attachment_blobs import AttachmentBlobs
from shared.history_client import HistoryClient


class State(TypedDict):
    """What the lifespan opens once per process and every request shares."""

    settings: GatewaySettings
    history: HistoryClient
    redis: Redis
    arq: Any
    """arq's ``ArqRedis`` (arq ships no type information)."""
    relay: Relay
    blobs: AttachmentBlobs
    """Where attachment bytes are stored (shared with the workers)."""
    links: LinkSigner
    """Signs and verifies attachment upload and preview links."""


def app_state(request: Request) -> State:
    """The lifespan State; Starlette copies it into every request's scope."""
    return cast(State, request.scope["state"])


# Dependencies are coroutines: FastAPI runs a plain function in its thread pool,
# a thread hop on every request.
async def _history(request: Request) -> HistoryClient:
    return app_state(request)["history"]


async def _state(request: Request) -> State:
    return app_state(request)


HistoryDep = Annotated[HistoryClient, Depends(_history)]
StateDep = Annotated[State, Depends(_state)]
