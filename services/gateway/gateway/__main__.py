"""``gateway``: build GatewaySettings once, serve create_app(settings) with uvicorn."""

import argparse

import structlog
import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.gc_policy import freeze_startup_heap
from shared.logging import configure_logging

DESCRIPTION = """ChatKit gateway: JWT auth, request validation, runs, SSE relay.

Configured by environment variables (or a .env file): JWT_SECRET (alias
BETTER_AUTH_SECRET), JWT_AUDIENCE, JWT_ISSUER, CORS_ORIGINS, REDIS_URL,
HISTORY_URL, QUEUE_NAME, INTERNAL_TOKEN, GATEWAY_HOST, GATEWAY_PORT,
GATEWAY_KEEPALIVE_S, GATEWAY_MAX_BODY_BYTES, GATEWAY_QUEUED_LEASE_S,
ON_DISCONNECT, BUSY_POLICY, GATEWAY_BUSY_WAIT_S, RUN_LOG_MAXLEN, RUN_LOG_TTL_S,
GATEWAY_ATTACHMENT_MAX_BYTES, GATEWAY_ATTACHMENT_MIME_TYPES, GATEWAY_PUBLIC_URL,
GATEWAY_UPLOAD_LINK_TTL_S, GATEWAY_SYNC_JOB_TIMEOUT_S, GATEWAY_TRANSCRIBE_MAX_BYTES,
ATTACHMENTS_BACKEND, ATTACHMENTS_DIR, ATTACHMENTS_S3_*, ENV, LOG_LEVEL.
"""

GRACEFUL_SHUTDOWN_S = 5


def main() -> None:
    """Entry point of the ``gateway`` script and ``python -m gateway``."""
    argparse.ArgumentParser(
        prog="gateway",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args()
    settings = GatewaySettings()
    # httpx logs every call to history at INFO; the request log covers those.
    configure_logging("gateway", settings.log_level, quiet=("httpx",))
    log = structlog.get_logger("gateway")
    if settings.uses_insecure_secret:
        log.warning(
            "insecure_jwt_secret",
            detail="JWT_SECRET is a development default; set a real secret",
        )
    log.info(
        "gateway_listening",
        url=f"http://{settings.gateway_host}:{settings.gateway_port}",
    )
    app = create_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        # Our own middleware logs each request as JSON; uvicorn's text lines
        # would break the one-JSON-object-per-line log format.
        log_config=None,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        # Streams can last minutes; on shutdown they are cut after this grace
        # period (their runs go on in the workers and are stored).
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


if __name__ == "__main__":
    main()
