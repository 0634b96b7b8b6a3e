"""Fixtures of history's tests: a migrated database and a live history server.

The database is testkit's session ``pg_dsn``. The server is a real uvicorn in a
background thread (its own event loop) on a free port, serving ``create_app`` on
that database; tests talk HTTP to it. Tests keep out of each other's way by
using a fresh user id each.
"""

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
import uvicorn
from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from history.app import create_app
from history.db import init_connection
from history.migrate import migrate
from history.settings import HistorySettings
from shared.history_api import RunOpen, RunRecord, RunUpdate
from shared.history_client import HistoryClient
from shared.ids import new_id

SERVER_START_TIMEOUT_S = 30.0


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` on the same server."""
    return urlsplit(dsn)._replace(path=f"/{name}").geturl()


async def create_database(dsn: str, prefix: str) -> str:
    """Create an empty database next to ``dsn``'s; return its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    """Drop the database of ``dsn``, closing its leftover connections."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_dsn(pg_dsn: str) -> str:
    """The session database with history's schema applied."""
    await migrate(pg_dsn)
    return pg_dsn


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(migrated_dsn: str) -> AsyncIterator["asyncpg.Pool[asyncpg.Record]"]:
    """A small pool for looking at (or ageing) rows behind the API's back."""
    pool = await asyncpg.create_pool(
        migrated_dsn, min_size=1, max_size=3, init=init_connection
    )
    yield pool
    await pool.close()


class ServerThread:
    """uvicorn serving an app from a background thread, on a pre-bound socket."""

    def __init__(self, settings: HistorySettings) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(settings), log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("history test server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=SERVER_START_TIMEOUT_S)
        self.socket.close()


def server_settings(
    dsn: str, internal_token: str = "", statement_timeout_s: float = 30.0
) -> HistorySettings:
    """Settings for a test server, ignoring the shell's environment files."""
    return HistorySettings(
        _env_file=None,
        env="test",
        database_url=dsn,
        internal_token=internal_token,
        history_pool_min=1,
        history_pool_max=10,
        history_statement_timeout_s=statement_timeout_s,
    )


@pytest.fixture(scope="session")
def live_history_url(migrated_dsn: str) -> Iterator[str]:
    """Base URL of a history server on the session database."""
    server = ServerThread(server_settings(migrated_dsn))
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(live_history_url: str) -> AsyncIterator[HistoryClient]:
    """The typed client the gateway and worker use."""
    history = HistoryClient(live_history_url)
    yield history
    await history.aclose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http(live_history_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client on ``/v1``, for requests the typed client cannot make."""
    async with httpx.AsyncClient(base_url=f"{live_history_url}/v1") as raw:
        yield raw


@pytest.fixture
def user_id() -> str:
    """A user nobody else uses, so each test sees only its own rows."""
    return f"usr_{uuid.uuid4().hex}"


@pytest.fixture
def other_user_id() -> str:
    """A second user, for isolation checks."""
    return f"usr_{uuid.uuid4().hex}"


@pytest_asyncio.fixture(loop_scope="session")
async def scratch_dsn(pg_dsn: str) -> AsyncIterator[str]:
    """An empty database of its own (no schema), dropped after the test."""
    dsn = await create_database(pg_dsn, "cks_history_scratch")
    yield dsn
    await drop_database(pg_dsn, dsn)


@pytest.fixture(scope="session")
def internal_token() -> str:
    """The shared secret of the guarded server."""
    return f"tok_{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def guarded_history_url(migrated_dsn: str, internal_token: str) -> Iterator[str]:
    """Base URL of a history server that requires ``X-Internal-Token``."""
    server = ServerThread(server_settings(migrated_dsn, internal_token))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def impatient_history_url(migrated_dsn: str) -> Iterator[str]:
    """Base URL of a history server whose statements time out after 0.2 s."""
    server = ServerThread(server_settings(migrated_dsn, statement_timeout_s=0.2))
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def queued_run(client: HistoryClient, user_id: str) -> RunRecord:
    """A queued run of ``user_id`` on a new thread, opened with a user item."""
    thread = ThreadMetadata(id=new_id("thr"), created_at=datetime.now(UTC))
    item = UserMessageItem(
        id=new_id("msg"),
        thread_id=thread.id,
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text="hello")],
        inference_options=InferenceOptions(),
    )
    opening = RunOpen(thread_id=thread.id, new_thread=thread, user_item=item)
    return await client.open_run(user_id, opening)


@pytest_asyncio.fixture(loop_scope="session")
async def running_run(
    client: HistoryClient, user_id: str, queued_run: RunRecord
) -> RunRecord:
    """``queued_run`` picked up by a worker (fenced, as workers do)."""
    pickup = RunUpdate(
        status="running", worker="worker-1", fencing_token=queued_run.fencing_token
    )
    return await client.update_run(user_id, queued_run.id, pickup)


@pytest.fixture
def expire_lease(
    db: "asyncpg.Pool[asyncpg.Record]",
) -> Callable[[str], Awaitable[None]]:
    """Make a run's lease run out now (as if its worker died), status untouched."""

    async def expire(run_id: str) -> None:
        await db.execute(
            "UPDATE runs SET lease_expires_at = now() - interval '1 second'"
            " WHERE id = $1",
            run_id,
        )

    return expire
