"""``history``: apply migrations, then serve the internal API."""

import asyncio

import structlog
import uvicorn

from history.app import create_app
from history.migrate import migrate
from history.settings import HistorySettings
from shared.gc_policy import freeze_startup_heap
from shared.logging import configure_logging

log = structlog.get_logger(__name__)


def main() -> None:
    """Entry point of the ``history`` script."""
    settings = HistorySettings()
    configure_logging("history", settings.log_level)
    applied = asyncio.run(migrate(settings.database_url))
    log.info("migrations done", applied=applied)
    log.info("history starting", host=settings.history_host, port=settings.history_port)
    app = create_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.history_host,
        port=settings.history_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
