"""Structured JSON logging with ids bound in context; secrets never logged."""

import logging
import sys

import structlog


def configure_logging(
    service: str, level: str = "INFO", *, quiet: tuple[str, ...] = ()
) -> None:
    """Route stdlib and structlog output to one JSON line per event on stderr.

    Library records (uvicorn, arq, httpx, the Agents SDK) become JSON lines too;
    the loggers named in ``quiet`` only report warnings and worse.
    """
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    _json_for_library_logs()
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def _json_for_library_logs() -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
        ],
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
