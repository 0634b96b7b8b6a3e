"""The arq job `sync_custom_action`: a widget action answered by the job's result.

The app's sync handler answers; the updated item it returns is persisted before
the reply goes back (ChatKitServer does not persist it, so a reload would show
the stale widget). Expected failures come back as `SyncActionReply.error`, a
message safe to show; the job itself never raises for them.
"""

import asyncio
import time
from typing import Any

import structlog
from chatkit.errors import CustomStreamError
from chatkit.types import WidgetItem

from shared.history_client import HistoryNotFound
from shared.jobs import SyncActionJob, SyncActionReply

from .agent_app import NO_SYNC_ACTION_HANDLER, SyncActionHandler
from .redaction import redacted_error, worker_secrets
from .resources import RESOURCES_KEY, WorkerResources
from .turn_context import TurnContext

GONE = "The conversation or the item no longer exists."
NOT_A_WIDGET = "The action's item is not a widget."
FAILED = "The action failed."

log = structlog.get_logger("agent_worker.sync_action")


class _Refused(Exception):
    """The action cannot run; the message is the reply's error."""


async def sync_custom_action(ctx: dict[str, Any], payload: object) -> dict[str, Any]:
    """arq job function: a SyncActionJob in, a SyncActionReply (as JSON) out."""
    job = SyncActionJob.model_validate(payload)
    resources: WorkerResources = ctx[RESOURCES_KEY]
    with structlog.contextvars.bound_contextvars(
        request_id=job.request_id, thread_id=job.thread_id
    ):
        reply = await answer_sync_action(resources, job)
    return reply.model_dump(mode="json")


async def answer_sync_action(
    resources: WorkerResources, job: SyncActionJob
) -> SyncActionReply:
    """The app's reply to the action, its updated item already stored."""
    handler = resources.app.sync_action
    if handler is None:
        return SyncActionReply(error=NO_SYNC_ACTION_HANDLER)
    started = time.perf_counter()
    try:
        reply = await _answer(resources, job, handler)
    except _Refused as refused:
        reply = SyncActionReply(error=str(refused))
    except CustomStreamError as error:
        reply = SyncActionReply(error=error.message)
    except Exception as error:
        secrets = worker_secrets(resources.settings)
        log.error("sync action failed", **redacted_error(error, secrets))
        return SyncActionReply(error=FAILED)
    log.info(
        "sync action answered",
        action=job.action.type,
        error=reply.error,
        updated=reply.updated_item is not None,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return reply


async def _answer(
    resources: WorkerResources, job: SyncActionJob, handler: SyncActionHandler
) -> SyncActionReply:
    history = resources.history
    try:
        thread, sender = await asyncio.gather(
            history.get_thread(job.user_id, job.thread_id), _sender(resources, job)
        )
    except HistoryNotFound:
        raise _Refused(GONE) from None
    context = TurnContext(user_id=job.user_id, history=history)
    reply = await handler(thread.thread, job.action, sender, context)
    if reply.updated_item is not None:
        await history.save_item(job.user_id, job.thread_id, reply.updated_item)
    return reply


async def _sender(resources: WorkerResources, job: SyncActionJob) -> WidgetItem | None:
    if job.item_id is None:
        return None
    record = await resources.history.get_item(job.user_id, job.thread_id, job.item_id)
    if not isinstance(record.item, WidgetItem):
        raise _Refused(NOT_A_WIDGET)
    return record.item
