"""Session fixtures every suite shares: real PostgreSQL, real Redis, real services.

Loaded with ``-p testkit.plugin`` (root pyproject). Infrastructure starts lazily:
a session that asks for no ``pg_dsn`` starts no PostgreSQL.

- ``pg_dsn``: a fresh database ``cks_test_<random>`` on the server at
  ``DATABASE_URL`` (default local 5432) or on a throwaway pgserver; dropped after.
- ``redis_url``: ``REDIS_URL`` (default local 6379) or a throwaway redis-server.
- ``queue_name``: a per-session queue; every key with its prefix deleted after.
- ``history_url``: a ``history`` process on ``pg_dsn``.
- ``fake_model``: base URL (``.../v1``) of the scripted OpenAI-compatible model.
- ``attachments_dir``: the session's ``ATTACHMENTS_DIR``, shared by the services
  of a stack (gateway uploads, worker reads).
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported before collection on purpose: under --import-mode=importlib pytest names
# `shared/tests/test_x.py` "shared.tests.test_x" and, finding no `shared` module
# yet, would register an empty stand-in under that name, hiding the real package.
import shared.settings  # noqa: F401
from testkit.infra import (
    delete_keys_with_prefix,
    fresh_database,
    postgres_server,
    random_suffix,
    redis_server,
)
from testkit.processes import OFFLINE_ENV
from testkit.services import start_history

QUEUE_PREFIX = "cks-test-"

# The services and libraries imported in-process by tests must stay offline too.
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def service_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder where every process started by the session writes its log."""
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def attachments_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's attachment folder: every service of a stack gets it."""
    return tmp_path_factory.mktemp("attachments")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a database created for this session and dropped after it."""
    with (
        postgres_server(os.environ.get("DATABASE_URL")) as server_dsn,
        fresh_database(server_dsn) as dsn,
    ):
        yield dsn


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a reachable Redis (configured, local, or throwaway)."""
    with redis_server(os.environ.get("REDIS_URL")) as url:
        yield url


@pytest.fixture(scope="session")
def queue_name(redis_url: str) -> Iterator[str]:
    """An arq queue name of this session; its keys are deleted at the end."""
    prefix = f"{QUEUE_PREFIX}{random_suffix()}"
    yield f"{prefix}:queue"
    delete_keys_with_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def history_url(pg_dsn: str, service_log_dir: Path) -> Iterator[str]:
    """Base URL of a running ``history`` service (migrations applied)."""
    service = start_history(pg_dsn, service_log_dir)
    try:
        yield service.url
    finally:
        service.process.stop()


@pytest.fixture(scope="session")
def fake_model() -> Iterator[str]:
    """Base URL (ending in ``/v1``) of the scripted OpenAI-compatible model."""
    # Imported here: the openai types it builds on cost seconds to import, and
    # most suites never ask for a model.
    from testkit.fake_model import FakeModelServer

    server = FakeModelServer().start()
    try:
        yield server.base_url
    finally:
        server.stop()
