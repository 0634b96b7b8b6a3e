"""The test infrastructure finds or starts real servers and leaves nothing behind."""

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import redis

from testkit.infra import (
    delete_keys_with_prefix,
    fresh_database,
    postgres_reachable,
    postgres_server,
    redis_reachable,
    redis_server,
    run_sync,
    with_database,
)
from testkit.processes import ManagedProcess, ProcessNotReadyError, free_port


def closed_port() -> int:
    return free_port()


async def _database_names(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    return {row["datname"] for row in rows}


def test_throwaway_redis_starts_when_redis_url_points_to_a_closed_port() -> None:
    unreachable = f"redis://127.0.0.1:{closed_port()}/0"

    with redis_server(unreachable) as url:
        assert url != unreachable
        client = redis.Redis.from_url(url)
        client.set("testkit:probe", "1")
        assert client.get("testkit:probe") == b"1"
        client.close()

    assert not redis_reachable(url)


def test_throwaway_postgres_starts_when_database_url_points_to_a_closed_port() -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres"

    with postgres_server(unreachable) as server_dsn:
        assert "host=/" in server_dsn
        with fresh_database(server_dsn) as dsn:
            assert postgres_reachable(dsn)

    assert not postgres_reachable(server_dsn)


def test_session_database_is_fresh_and_dropped_afterwards(pg_dsn: str) -> None:
    server_dsn = with_database(pg_dsn, "postgres")

    with fresh_database(server_dsn) as dsn:
        name = urlsplit(dsn).path.lstrip("/")
        assert name.startswith("cks_test_")
        assert name in run_sync(_database_names(server_dsn))

    assert name not in run_sync(_database_names(server_dsn))


def test_with_database_keeps_the_socket_query() -> None:
    dsn = "postgresql://postgres:@/postgres?host=/srv/pg"
    assert with_database(dsn, "other") == "postgresql://postgres:@/other?host=/srv/pg"


def test_keys_with_the_queue_prefix_are_deleted_and_others_kept(
    redis_url: str, queue_name: str
) -> None:
    prefix = queue_name.removesuffix(":queue")
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:queue:a", "1")
    client.set(f"{prefix}:health-check", "1")
    client.set(f"{prefix}x-other", "1")
    client.set(f"other-{prefix}", "1")

    deleted = delete_keys_with_prefix(redis_url, f"{prefix}:")

    assert deleted == 2
    assert client.exists(f"{prefix}x-other", f"other-{prefix}") == 2
    client.delete(f"{prefix}x-other", f"other-{prefix}")
    client.close()


def test_readiness_failure_shows_the_process_output(tmp_path: Path) -> None:
    process = ManagedProcess(
        "crasher",
        [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"],
        env={},
        log_path=tmp_path / "crasher.log",
    )

    with pytest.raises(ProcessNotReadyError, match=r"(?s)exited with code 3.*boom"):
        process.wait_http_ok(f"http://127.0.0.1:{closed_port()}/readyz", timeout=10)


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('armed', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = ManagedProcess(
        "stubborn",
        [sys.executable, "-c", code],
        env={},
        log_path=tmp_path / "stubborn.log",
    )
    process.wait_log_contains("armed", timeout=10)

    assert process.stop(timeout=0.5) == -9
    assert not process.alive()


async def test_run_sync_works_while_the_test_loop_runs() -> None:
    assert run_sync(asyncio.sleep(0, result="done")) == "done"


def test_history_fixture_is_a_live_history_process_on_the_session_database(
    history_url: str,
) -> None:
    assert httpx.get(f"{history_url}/readyz", timeout=5).status_code == 200
