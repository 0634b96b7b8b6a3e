"""Start history, gateway and agent-worker as real processes; wait ready; stop.

Each service runs as ``<python> -m <package>`` from this virtualenv, with an
environment built from scratch for the test (settings inherited from the shell
are dropped, so a developer's ``MODEL`` or API key never reaches a test run) and
its working directory in the log folder (so no ``.env`` file is read). Every
service of one stack gets the same ``ATTACHMENTS_DIR``, so bytes the gateway
stores from an upload are the bytes a worker reads for the model.
"""

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testkit.processes import OFFLINE_ENV, ManagedProcess, free_port
from testkit.tokens import TEST_JWT_SECRET

# Settings inherited from the shell are dropped: the contract names, plus every
# service-only knob (named with its service's prefix).
SETTING_NAMES = frozenset(
    {
        "ENV", "LOG_LEVEL", "REDIS_URL", "HISTORY_URL", "QUEUE_NAME", "INTERNAL_TOKEN",
        "DATABASE_URL", "JWT_SECRET", "BETTER_AUTH_SECRET", "JWKS_URL", "JWT_AUDIENCE",
        "JWT_ISSUER", "CORS_ORIGINS", "MODEL", "MODEL_API", "OPENAI_API_KEY",
        "OPENAI_BASE_URL", "GEMINI_API_KEY", "GEMINI_MODEL", "AGENT",
        "ON_DISCONNECT", "BUSY_POLICY",
    }
)  # fmt: skip
SETTING_PREFIXES = ("GATEWAY_", "HISTORY_", "WORKER_", "RUN_LOG_", "ATTACHMENTS_")

READY_TIMEOUT_S = 90.0
WORKER_READY_EVENT = "worker ready"


@dataclass(frozen=True)
class Service:
    """A running HTTP service: its process and base URL."""

    process: ManagedProcess
    url: str


def service_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of a service under test: clean, offline, plus ``settings``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTING_NAMES and not name.startswith(SETTING_PREFIXES)
    }
    env.update(OFFLINE_ENV)
    env.update({"ENV": "test", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"})
    env.update(settings)
    return env


def _start(
    name: str, module: str, settings: Mapping[str, str], log_dir: Path
) -> ManagedProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    return ManagedProcess(
        name,
        [sys.executable, "-m", module],
        env=service_env(settings),
        log_path=log_dir / f"{name}.log",
        cwd=log_dir,
    )


def start_history(
    database_url: str,
    log_dir: Path,
    *,
    settings: Mapping[str, str] | None = None,
    name: str = "history",
) -> Service:
    """Start ``history`` on a free port (it migrates on start); wait for /readyz."""
    port = free_port()
    process = _start(
        name,
        "history",
        {
            "DATABASE_URL": database_url,
            "HISTORY_HOST": "127.0.0.1",
            "HISTORY_PORT": str(port),
            **(settings or {}),
        },
        log_dir,
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_http_ok(f"{url}/readyz", timeout=READY_TIMEOUT_S)
    return Service(process, url)


def start_gateway(
    *,
    history_url: str,
    redis_url: str,
    queue_name: str,
    log_dir: Path,
    settings: Mapping[str, str] | None = None,
    name: str = "gateway",
) -> Service:
    """Start ``gateway`` on a free port with the test JWT secret; wait for /readyz."""
    port = free_port()
    process = _start(
        name,
        "gateway",
        {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "HISTORY_URL": history_url,
            "REDIS_URL": redis_url,
            "QUEUE_NAME": queue_name,
            "JWT_SECRET": TEST_JWT_SECRET,
            **(settings or {}),
        },
        log_dir,
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_http_ok(f"{url}/readyz", timeout=READY_TIMEOUT_S)
    return Service(process, url)


def start_worker(
    *,
    history_url: str,
    redis_url: str,
    queue_name: str,
    model_base_url: str,
    log_dir: Path,
    model_api: str = "responses",
    model: str = "fake-model",
    settings: Mapping[str, str] | None = None,
    name: str = "worker-1",
) -> ManagedProcess:
    """Start one ``agent-worker`` on the scripted model; wait for its ready log line."""
    process = _start(
        name,
        "agent_worker",
        {
            "HISTORY_URL": history_url,
            "REDIS_URL": redis_url,
            "QUEUE_NAME": queue_name,
            "MODEL": model,
            "MODEL_API": model_api,
            "OPENAI_BASE_URL": model_base_url,
            "OPENAI_API_KEY": "test",
            "WORKER_NAME": name,
            **(settings or {}),
        },
        log_dir,
    )
    process.wait_until(
        lambda: logged_event(process, WORKER_READY_EVENT),
        timeout=READY_TIMEOUT_S,
        what=f"logged {WORKER_READY_EVENT!r}",
    )
    return process


def start_reference_app(
    *,
    history_url: str,
    model_base_url: str,
    log_dir: Path,
    name: str = "reference",
) -> Service:
    """Start the reference ChatKitServer app (``testkit.reference_app``); wait ready.

    It keeps threads in memory, takes the same test bearer tokens as the gateway
    and runs the worker's default agent on the scripted model; ``history_url``
    only keeps the agent's task list.
    """
    port = free_port()
    process = _start(
        name,
        "testkit.reference_app",
        {
            "REFERENCE_HOST": "127.0.0.1",
            "REFERENCE_PORT": str(port),
            "REFERENCE_HISTORY_URL": history_url,
            "REFERENCE_MODEL_BASE_URL": model_base_url,
            "REFERENCE_JWT_SECRET": TEST_JWT_SECRET,
        },
        log_dir,
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_http_ok(f"{url}/healthz", timeout=READY_TIMEOUT_S)
    return Service(process, url)


def log_events(process: ManagedProcess) -> list[dict[str, object]]:
    """The JSON log lines the process wrote so far (other lines skipped)."""
    events: list[dict[str, object]] = []
    for line in process.log_text().splitlines():
        if not line.startswith("{"):
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                events.append(record)
    return events


def logged_event(process: ManagedProcess, event: str) -> bool:
    """Whether the process logged a JSON line whose ``event`` is ``event``."""
    return any(record.get("event") == event for record in log_events(process))


def shared_settings(attachments_dir: Path) -> dict[str, str]:
    """Settings every service of one stack must agree on."""
    return {"ATTACHMENTS_DIR": str(attachments_dir)}


@dataclass
class Stack:
    """history + gateway + workers, stopped in reverse order of start."""

    history: Service
    gateway: Service
    workers: list[ManagedProcess] = field(default_factory=list)
    attachments_dir: Path | None = None
    """The ``ATTACHMENTS_DIR`` all its services share."""

    def stop(self) -> None:
        """Stop workers, then gateway, then history."""
        for process in [*reversed(self.workers), self.gateway.process]:
            process.stop()
        self.history.process.stop()


@contextlib.contextmanager
def running_stack(
    *,
    database_url: str,
    redis_url: str,
    queue_name: str,
    model_base_url: str,
    log_dir: Path,
    workers: int = 1,
    model_api: str = "responses",
    worker_settings: Mapping[str, str] | None = None,
    attachments_dir: Path | None = None,
) -> Iterator[Stack]:
    """The three services on the given infrastructure; everything stopped after.

    ``attachments_dir`` (default ``<log_dir>/attachments``) is every service's
    ``ATTACHMENTS_DIR``.
    """
    attachments_dir = attachments_dir or log_dir / "attachments"
    attachments_dir.mkdir(parents=True, exist_ok=True)
    common = shared_settings(attachments_dir)
    started: list[ManagedProcess] = []
    try:
        history = start_history(database_url, log_dir, settings=common)
        started.append(history.process)
        gateway = start_gateway(
            history_url=history.url,
            redis_url=redis_url,
            queue_name=queue_name,
            log_dir=log_dir,
            settings=common,
        )
        started.append(gateway.process)
        worker_processes: list[ManagedProcess] = []
        for index in range(1, workers + 1):
            worker = start_worker(
                history_url=history.url,
                redis_url=redis_url,
                queue_name=queue_name,
                model_base_url=model_base_url,
                log_dir=log_dir,
                model_api=model_api,
                settings={**common, **(worker_settings or {})},
                name=f"worker-{index}",
            )
            started.append(worker)
            worker_processes.append(worker)
        yield Stack(history, gateway, worker_processes, attachments_dir)
    finally:
        for process in reversed(started):
            process.stop()
