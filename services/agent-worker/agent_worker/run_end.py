"""How a run ends other than by completing: error events and the cancel note."""

from datetime import UTC, datetime

import structlog
from chatkit.errors import BaseStreamError, CustomStreamError, ErrorCode, StreamError
from chatkit.types import ErrorEvent, SDKHiddenContextItem

from shared.history_api import RunUpdate
from shared.history_client import HistoryNotFound
from shared.ids import new_id
from shared.jobs import RunJob

from .publisher import RunPublisher
from .redaction import redacted_error, worker_secrets
from .resources import WorkerResources
from .run_writes import with_retries

CANCELLED_NOTE = "The user cancelled the stream. Stop responding to the prior request."
"""chatkit's hidden item after a cancelled stream, word for word."""

log = structlog.get_logger("agent_worker.run_end")


def cancelled_note(thread_id: str) -> SDKHiddenContextItem:
    """The hidden item chatkit stores after a cancelled stream (never shown)."""
    return SDKHiddenContextItem(
        id=new_id("shcx"),
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=CANCELLED_NOTE,
    )


def error_event(error: BaseStreamError) -> ErrorEvent:
    """The ChatKit error event for an app's stream error, as ChatKitServer sends."""
    if isinstance(error, CustomStreamError):
        return ErrorEvent(
            code="custom", message=error.message, allow_retry=error.allow_retry
        )
    if isinstance(error, StreamError):
        return ErrorEvent(code=error.code, allow_retry=error.allow_retry)
    return ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=error.allow_retry)


async def fail_unloaded(
    resources: WorkerResources, job: RunJob, error: Exception
) -> None:
    """A run that could not even be loaded: error event, failed record, RunEnded."""
    settings = resources.settings
    log.error("run failed", **redacted_error(error, worker_secrets(settings)))
    publisher = RunPublisher(
        resources.redis,
        job.run_id,
        coalesce_s=0,
        log_maxlen=settings.run_log_maxlen,
        log_ttl_s=settings.run_log_ttl_s,
    )
    await publisher.publish(ErrorEvent(code="stream.error", allow_retry=True))
    # A vanished run has no record left to mark.
    if not isinstance(error, HistoryNotFound):
        update = RunUpdate(
            status="failed", error=type(error).__name__, last_seq=publisher.next_seq
        )
        try:
            await with_retries(
                lambda _: resources.history.update_run(job.user_id, job.run_id, update),
                budget_s=settings.worker_write_retry_s,
                what="update run",
            )
        except Exception as record_error:
            log.error(
                "recording the run's status failed",
                error_type=type(record_error).__name__,
            )
    await publisher.end("failed")
    await publisher.aclose()
