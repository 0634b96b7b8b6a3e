"""The machine state recorded with the figures: CPUs, load, versions."""

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata

import asyncpg
import psutil  # type: ignore[import-untyped]
import redis

from bench.figures import MachineState
from bench.stack import REPO_ROOT
from testkit.infra import run_sync

PACKAGES = (
    "openai-chatkit",
    "openai-agents",
    "openai",
    "fastapi",
    "uvicorn",
    "arq",
    "redis",
    "asyncpg",
    "pydantic",
)


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def _git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit} (uncommitted changes)" if git("status", "--porcelain") else commit


async def _postgres_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def server_versions(redis_url: str, database_url: str) -> dict[str, str]:
    """Versions of the Redis and PostgreSQL servers used."""
    client = redis.Redis.from_url(redis_url)
    try:
        info = client.info("server")
        redis_version = str(info.get("redis_version", "?"))  # type: ignore[union-attr]
    finally:
        client.close()
    return {
        "redis-server": redis_version,
        "postgresql": run_sync(_postgres_version(database_url)),
    }


def package_versions() -> dict[str, str]:
    """Versions of the Python packages that matter to the figures."""
    found: dict[str, str] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine_state(
    started: datetime,
    load_start: tuple[float, float, float],
    versions: dict[str, str],
) -> MachineState:
    """The state now, with what was recorded at the start."""
    return MachineState(
        cpu_count=os.cpu_count() or 0,
        load_average_start=load_start,
        load_average_end=load_average(),
        memory_total_mb=round(psutil.virtual_memory().total / 1024 / 1024),
        python=sys.version.split()[0],
        platform=platform.platform(),
        versions=versions,
        git_commit=_git_commit(),
        started_at=started.isoformat(timespec="seconds"),
        seconds=round((datetime.now(UTC) - started).total_seconds(), 1),
    )
