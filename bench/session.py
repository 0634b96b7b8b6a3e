"""One benchmark run's handles: the stack, the load generator and the sampler."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psutil  # type: ignore[import-untyped]

from bench.config import BenchConfig
from bench.driver import LoadGenerator
from bench.loadgen_api import Target
from bench.redis_stats import command_counts, difference
from bench.sampler import CpuWindow, Sampler, window
from bench.stack import BenchStack

T = TypeVar("T")


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def redis_pid(redis_url: str) -> int | None:
    """The pid of the redis-server serving ``redis_url`` (ours is a child)."""
    port = redis_url.rsplit(":", 1)[1].split("/", 1)[0]
    for process in psutil.process_iter(["name", "cmdline"]):
        # redis-server rewrites its title to "redis-server 127.0.0.1:<port>".
        title = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "redis-server" and f":{port}" in title:
            return int(process.pid)
    return None


@dataclass
class Measured:
    """The CPU and Redis commands a step cost, and when it ran."""

    cpu: CpuWindow
    redis_commands: dict[str, int]
    started: float
    ended: float


@dataclass
class Session:
    """What every phase uses."""

    config: BenchConfig
    stack: BenchStack
    generator: LoadGenerator
    sampler: Sampler = field(init=False)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sampler = Sampler(pids={})
        self.track_processes()

    def track_processes(self) -> None:
        """(Re)read the pids to sample: every service, the generator, Redis."""
        pids = {name: p.pid for name, p in self.stack.processes().items()}
        pids["loadgen"] = self.generator.pid
        pids["orchestrator"] = os.getpid()
        redis = redis_pid(self.stack.redis_url)
        if redis is not None:
            pids["redis"] = redis
        self.sampler.pids = pids

    @property
    def model(self) -> Target:
        """The bare scripted model."""
        return Target(name="model", port=self.stack.model_port, kind="model")

    @property
    def baseline(self) -> Target:
        """The official ChatKitServer."""
        return Target(name="baseline", port=_port(self.stack.baseline.url))

    @property
    def ours(self) -> Target:
        """Our gateway."""
        return Target(name="ours", port=_port(self.stack.gateway.url))

    def measure(self, step: Callable[[], T]) -> tuple[T, Measured]:
        """Run ``step`` between two samples and two Redis command counts."""
        before_redis = command_counts(self.stack.redis_url)
        first = self.sampler.take()
        value = step()
        last = self.sampler.take()
        after_redis = command_counts(self.stack.redis_url)
        measured = Measured(
            cpu=window(first, last),
            redis_commands=difference(before_redis, after_redis),
            started=first.wall,
            ended=last.wall,
        )
        return value, measured
