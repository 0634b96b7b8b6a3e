"""A test's own fleet: gateways and workers on one queue, each with its settings.

Unlike ``running_stack`` (one of each, fixed settings), a ``Cluster`` takes an
existing history and adds named gateways and workers one at a time, so a test
can run two gateways with different policies on one queue, or a worker it is
about to kill next to one that must survive.
"""

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testkit.processes import ManagedProcess
from testkit.services import Service, shared_settings, start_gateway, start_worker


@dataclass
class Cluster:
    """Gateways and workers sharing one history, one Redis and one queue."""

    history_url: str
    redis_url: str
    queue_name: str
    model_base_url: str
    log_dir: Path
    attachments_dir: Path
    gateways: dict[str, Service] = field(default_factory=dict)
    workers: dict[str, ManagedProcess] = field(default_factory=dict)

    def add_gateway(
        self, name: str, settings: Mapping[str, str] | None = None
    ) -> Service:
        """Start a gateway on the cluster's queue; wait until it is ready."""
        assert name not in self.gateways, f"gateway {name} already started"
        service = start_gateway(
            history_url=self.history_url,
            redis_url=self.redis_url,
            queue_name=self.queue_name,
            log_dir=self.log_dir,
            settings={**shared_settings(self.attachments_dir), **(settings or {})},
            name=name,
        )
        self.gateways[name] = service
        return service

    def add_worker(
        self, name: str, settings: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """Start a worker on the cluster's queue; wait for its ready log line."""
        assert name not in self.workers, f"worker {name} already started"
        process = start_worker(
            history_url=self.history_url,
            redis_url=self.redis_url,
            queue_name=self.queue_name,
            model_base_url=self.model_base_url,
            log_dir=self.log_dir,
            settings={**shared_settings(self.attachments_dir), **(settings or {})},
            name=name,
        )
        self.workers[name] = process
        return process

    def gateway_url(self, name: str) -> str:
        """Base URL of a gateway of this cluster."""
        return self.gateways[name].url

    def stop(self) -> None:
        """Stop every worker, then every gateway (already dead ones included)."""
        for process in reversed(list(self.workers.values())):
            process.stop()
        for service in reversed(list(self.gateways.values())):
            service.process.stop()


@contextlib.contextmanager
def running_cluster(
    *,
    history_url: str,
    redis_url: str,
    queue_name: str,
    model_base_url: str,
    log_dir: Path,
    attachments_dir: Path,
    gateways: Mapping[str, Mapping[str, str]] | None = None,
    workers: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[Cluster]:
    """Start the named gateways and workers (name -> settings); stop all after."""
    cluster = Cluster(
        history_url=history_url,
        redis_url=redis_url,
        queue_name=queue_name,
        model_base_url=model_base_url,
        log_dir=log_dir,
        attachments_dir=attachments_dir,
    )
    try:
        for name, settings in (gateways or {}).items():
            cluster.add_gateway(name, settings)
        for name, settings in (workers or {}).items():
            cluster.add_worker(name, settings)
        yield cluster
    finally:
        cluster.stop()
