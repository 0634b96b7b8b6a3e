"""Apply the versioned SQL files in ``migrations/``, each once, in order.

A file ``0001_initial.sql`` is version ``0001``. Every file runs in its own
transaction together with its row in ``schema_migrations``, and the whole run
holds an advisory lock, so several history processes starting at once apply each
file exactly once.
"""

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# Any fixed 64-bit number works; it only has to be the same in every process.
ADVISORY_LOCK_KEY = 7_424_531_908_001
MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

CREATE_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version, file name and text."""

    version: str
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migration files shipped with the package, oldest first."""
    folder = resources.files("history") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(match.group(1), entry.name, entry.read_text()))
    return sorted(found, key=lambda migration: migration.version)


async def applied_versions(conn: "asyncpg.Connection[asyncpg.Record]") -> list[str]:
    """Versions recorded in ``schema_migrations``, oldest first."""
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [row["version"] for row in rows]


async def migrate_connection(conn: "asyncpg.Connection[asyncpg.Record]") -> list[str]:
    """Apply the missing migrations over ``conn``; return the versions applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(CREATE_VERSIONS_TABLE)
        done = set(await applied_versions(conn))
        applied = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.version)
            log.info("migration applied", version=migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


async def migrate(database_url: str) -> list[str]:
    """Connect to ``database_url`` and apply the missing migrations."""
    conn = await asyncpg.connect(database_url)
    try:
        return await migrate_connection(conn)
    finally:
        await conn.close()
