import asyncio

import asyncpg

from history.migrate import applied_versions, available_migrations, migrate

EXPECTED_TABLES = {
    "conversations",
    "messages",
    "runs",
    "attachments",
    "tasks",
    "feedback",
    "schema_migrations",
}


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def _versions(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await applied_versions(conn)
    finally:
        await conn.close()


def test_shipped_migrations_are_numbered_in_order_without_duplicates() -> None:
    versions = [migration.version for migration in available_migrations()]
    assert versions[0] == "0001"
    assert versions == sorted(set(versions))


async def test_first_migration_run_creates_schema_and_records_versions(
    scratch_dsn: str,
) -> None:
    applied = await migrate(scratch_dsn)

    shipped = [migration.version for migration in available_migrations()]
    assert applied == shipped
    assert await _versions(scratch_dsn) == shipped
    assert await _tables(scratch_dsn) >= EXPECTED_TABLES


async def test_rerunning_migrations_is_a_no_op(scratch_dsn: str) -> None:
    await migrate(scratch_dsn)
    before = await _versions(scratch_dsn)

    assert await migrate(scratch_dsn) == []
    assert await _versions(scratch_dsn) == before


async def test_concurrent_starts_apply_each_migration_once(scratch_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(scratch_dsn) for _ in range(3)))

    applied = sorted(version for result in results for version in result)
    assert applied == [migration.version for migration in available_migrations()]
    assert await _versions(scratch_dsn) == applied
