"""Real processes for the durability suite, and the clients tests talk through.

``durable`` is one cluster for the whole suite: two gateways with the default
policies (``gateway-a``, ``gateway-b``) and one worker, on the session's history
and Redis and a queue of their own. ``policy_gateway(name, settings)`` adds a
gateway with other settings to that cluster (once per name). Tests that break
something (kill a worker or a gateway, restart Redis, cut PostgreSQL) build
their own processes in their module so that nothing else sees the damage.
"""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from shared.history_client import HistoryClient
from testkit.cluster import Cluster, running_cluster

from .talk import Actor, open_actor

GatewayFactory = Callable[[str, Mapping[str, str]], str]
ActorFactory = Callable[[str], Actor]


@pytest.fixture(scope="session")
def durable(
    history_url: str,
    redis_url: str,
    queue_name: str,
    fake_model: str,
    service_log_dir: Path,
    attachments_dir: Path,
) -> Iterator[Cluster]:
    """Two default gateways and one worker on the suite's own queue."""
    with running_cluster(
        history_url=history_url,
        redis_url=redis_url,
        queue_name=f"{queue_name}-durable",
        model_base_url=fake_model,
        log_dir=service_log_dir / "durable",
        attachments_dir=attachments_dir,
        gateways={"gateway-a": {}, "gateway-b": {}},
        workers={"worker-1": {}},
    ) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def policy_gateway(durable: Cluster) -> GatewayFactory:
    """``policy_gateway(name, settings)``: URL of a gateway of ``durable`` with
    these settings, started on first use."""

    def get(name: str, settings: Mapping[str, str]) -> str:
        if name not in durable.gateways:
            durable.add_gateway(name, settings)
        return durable.gateway_url(name)

    return get


@pytest.fixture
def user_id() -> str:
    """A user of this test alone."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def marker() -> str:
    """A word unique to this test, to find its requests at the fake model."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def actor_at(user_id: str) -> AsyncIterator[ActorFactory]:
    """``actor_at(url)``: this test's user talking to the gateway at ``url``."""
    clients: list[httpx.AsyncClient] = []

    def make(url: str) -> Actor:
        actor = open_actor(url, user_id)
        clients.append(actor.http)
        return actor

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def history(history_url: str) -> AsyncIterator[HistoryClient]:
    """history's internal API, to look at what is stored (hidden items, runs)."""
    client = HistoryClient(history_url)
    yield client
    await client.aclose()
