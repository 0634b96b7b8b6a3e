"""Start everything a benchmark run needs, in parallel where it can, and stop it.

Infrastructure: a throwaway Redis (so ``INFO commandstats`` counts only this
run) and a fresh database on the local PostgreSQL (or a throwaway one). Then
the scripted model, the baseline and our history, gateway and workers, each
its own process; our workers run ``bench.plain_agent`` like the baseline.
"""

import contextlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from testkit.infra import fresh_database, postgres_server, throwaway_redis
from testkit.processes import OFFLINE_ENV, ManagedProcess, free_port
from testkit.services import Service, start_gateway, start_history, start_worker

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 90.0
QUEUE_NAME = "bench"
WORKER_SETTINGS = {
    "AGENT": "bench.plain_agent:agent",
    "PYTHONPATH": str(REPO_ROOT),
    "WORKER_MAX_JOBS": "1000",
}
"""Our workers run the baseline's agent; max jobs high enough for the hold test."""


@dataclass
class BenchStack:
    """Every process of a run, with what the phases need to reach them."""

    log_dir: Path
    redis_url: str
    database_url: str
    model: ManagedProcess
    model_port: int
    baseline: Service
    history: Service
    gateway: Service
    workers: list[ManagedProcess] = field(default_factory=list)

    @property
    def model_url(self) -> str:
        """Base URL of the scripted model (``.../v1``)."""
        return f"http://127.0.0.1:{self.model_port}/v1"

    def add_worker(self) -> ManagedProcess:
        """Start one more worker process and wait until it is ready."""
        worker = _start_worker(self, len(self.workers) + 1)
        self.workers.append(worker)
        return worker

    def processes(self) -> dict[str, ManagedProcess]:
        """Every process by a short name."""
        named = {
            "model": self.model,
            "baseline": self.baseline.process,
            "history": self.history.process,
            "gateway": self.gateway.process,
        }
        named.update({worker.name: worker for worker in self.workers})
        return named

    def stop(self) -> None:
        """Stop every process at once, history (their dependency) last."""
        first = [p for p in self.processes().values() if p is not self.history.process]
        with ThreadPoolExecutor(max_workers=len(first)) as pool:
            list(pool.map(lambda process: process.stop(), first))
        self.history.process.stop()


def _bench_process(name: str, args: list[str], log_dir: Path) -> ManagedProcess:
    env = {**os.environ, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1"}
    return ManagedProcess(
        name,
        [sys.executable, "-m", *args],
        env=env,
        log_path=log_dir / f"{name}.log",
        cwd=REPO_ROOT,
    )


def start_model(log_dir: Path) -> tuple[ManagedProcess, int]:
    """The scripted model server, ready."""
    port = free_port()
    process = _bench_process(
        "model", ["bench.scripted_model", "--port", str(port)], log_dir
    )
    process.wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=READY_TIMEOUT_S)
    return process, port


def start_baseline(model_url: str, log_dir: Path) -> Service:
    """The official ChatKitServer baseline, ready."""
    port = free_port()
    args = ["bench.baseline_app", "--port", str(port), "--model-url", model_url]
    process = _bench_process("baseline", args, log_dir)
    url = f"http://127.0.0.1:{port}"
    process.wait_http_ok(f"{url}/healthz", timeout=READY_TIMEOUT_S)
    return Service(process, url)


def _start_worker(stack: BenchStack, index: int) -> ManagedProcess:
    return start_bench_worker(
        stack.history.url, stack.redis_url, stack.model_url, stack.log_dir, index
    )


def start_bench_worker(
    history_url: str, redis_url: str, model_url: str, log_dir: Path, index: int
) -> ManagedProcess:
    """Worker number ``index`` on the scripted model, ready."""
    return start_worker(
        history_url=history_url,
        redis_url=redis_url,
        queue_name=QUEUE_NAME,
        model_base_url=model_url,
        log_dir=log_dir,
        settings=WORKER_SETTINGS,
        name=f"worker-{index}",
    )


@contextlib.contextmanager
def bench_stack(log_dir: Path, database_url: str | None = None) -> Iterator[BenchStack]:
    """Everything running with one worker; all stopped after.

    A process that fails to start stops the others at exit (testkit's guard).
    """
    with (
        throwaway_redis() as redis_url,
        postgres_server(database_url) as server_dsn,
        fresh_database(server_dsn) as dsn,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        model_future = pool.submit(start_model, log_dir)
        history_future = pool.submit(start_history, dsn, log_dir)
        model, model_port = model_future.result()
        model_url = f"http://127.0.0.1:{model_port}/v1"
        baseline_future = pool.submit(start_baseline, model_url, log_dir)
        history = history_future.result()
        gateway_future = pool.submit(
            start_gateway,
            history_url=history.url,
            redis_url=redis_url,
            queue_name=QUEUE_NAME,
            log_dir=log_dir,
        )
        worker_future = pool.submit(
            start_bench_worker, history.url, redis_url, model_url, log_dir, 1
        )
        stack = BenchStack(
            log_dir=log_dir,
            redis_url=redis_url,
            database_url=dsn,
            model=model,
            model_port=model_port,
            baseline=baseline_future.result(),
            history=history,
            gateway=gateway_future.result(),
            workers=[worker_future.result()],
        )
        try:
            yield stack
        finally:
            stack.stop()
