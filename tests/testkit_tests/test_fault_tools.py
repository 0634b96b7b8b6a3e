"""The fault injectors work: the pausable TCP proxy and the restartable Redis."""

import asyncio
import contextlib
import time

import asyncpg
import pytest
import redis

from testkit.infra import postgres_address, run_sync, with_tcp_address
from testkit.restartable_redis import restartable_redis
from testkit.tcp_proxy import TcpProxy, TcpTarget, running_proxy


async def _select_one(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        value: int = await conn.fetchval("SELECT 1")
        return value
    finally:
        await conn.close()


def _proxied(pg_dsn: str, proxy: TcpProxy) -> str:
    return with_tcp_address(pg_dsn, "127.0.0.1", proxy.port)


def test_proxy_forwards_to_postgres(pg_dsn: str) -> None:
    with running_proxy(TcpTarget.of(postgres_address(pg_dsn))) as proxy:
        assert run_sync(_select_one(_proxied(pg_dsn, proxy))) == 1
        assert proxy.accepted == 1


def test_paused_proxy_cuts_open_connections_and_refuses_new_ones(
    pg_dsn: str,
) -> None:
    async def scenario(dsn: str, proxy: TcpProxy) -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            proxy.pause()
            with pytest.raises(
                (asyncpg.PostgresError, OSError, asyncpg.InterfaceError)
            ):
                await conn.fetchval("SELECT 1")
            started = time.monotonic()
            with pytest.raises(
                (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
            ):
                await asyncpg.connect(dsn, timeout=5)
            assert time.monotonic() - started < 2, "a refused connect fails fast"
            proxy.resume()
            assert await _select_one(dsn) == 1
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    with running_proxy(TcpTarget.of(postgres_address(pg_dsn))) as proxy:
        run_sync(scenario(_proxied(pg_dsn, proxy), proxy))


def test_held_connection_goes_through_after_resume(pg_dsn: str) -> None:
    async def scenario(dsn: str, proxy: TcpProxy) -> None:
        proxy.pause("hold")
        pending = asyncio.create_task(_select_one(dsn))
        await asyncio.sleep(0.5)
        assert not pending.done(), "a held connection waits"
        proxy.resume()
        assert await asyncio.wait_for(pending, 5) == 1

    with running_proxy(TcpTarget.of(postgres_address(pg_dsn))) as proxy:
        run_sync(scenario(_proxied(pg_dsn, proxy), proxy))


def test_restarted_redis_answers_on_the_same_url_and_lost_its_keys() -> None:
    with restartable_redis() as server:
        client = redis.Redis.from_url(server.url)
        try:
            client.set("k", "v")
            url = server.url
            server.restart()
            assert server.url == url
            assert client.get("k") is None
            server.kill()
            assert not server.running
            with pytest.raises(redis.ConnectionError):
                client.ping()
            server.start()
            assert client.ping()
        finally:
            client.close()
