"""Short request/reply jobs: ``threads.sync_custom_action`` and ``input.transcribe``.

The worker owns the agent app's code and the model provider, so both go
through the queue like a run; the reply travels back as the arq job result.
The job expires unstarted after the timeout, so a request the client already
gave up on never runs later.
"""

import asyncio
import base64
import binascii
import uuid
from datetime import timedelta
from typing import TypeVar, assert_never

import structlog
from arq.jobs import ResultNotFound, SerializationError
from chatkit.types import (
    InputTranscribeParams,
    SyncCustomActionResponse,
    ThreadCustomActionParams,
    TranscriptionResult,
)
from pydantic import BaseModel, ValidationError

from gateway.call import Call
from gateway.errors import ApiError
from gateway.media_types import media_type
from gateway.runs import wake_workers
from gateway.streaming_ops import widget_sender
from shared.jobs import (
    SYNC_ACTION_JOB,
    TRANSCRIBE_JOB,
    SyncActionJob,
    SyncActionReply,
    TranscribeJob,
    TranscribeReply,
)

log = structlog.get_logger(__name__)

RESULT_POLL_S = 0.02
R = TypeVar("R", bound=BaseModel)


async def call_worker(
    call: Call, function: str, payload: BaseModel, reply_model: type[R]
) -> R:
    """Enqueue a short job, wait for its result, validate it as ``reply_model``."""
    state = call.state
    timeout_s = state["settings"].gateway_sync_job_timeout_s
    job_id = f"sync_{uuid.uuid4().hex}"
    job = await state["arq"].enqueue_job(
        function,
        payload.model_dump(mode="json"),
        _job_id=job_id,
        _queue_name=state["settings"].queue_name,
        _expires=timedelta(seconds=timeout_s),
    )
    if job is None:  # arq already holds a job with this fresh id: cannot happen
        raise _worker_error()
    await wake_workers(state, job_id)
    try:
        async with asyncio.timeout(timeout_s + 1):
            result = await job.result(timeout=timeout_s, poll_delay=RESULT_POLL_S)
    except TimeoutError:
        log.warning("sync_job_timeout", function=function, job_id=job_id)
        raise ApiError(
            504, "worker_timeout", "no worker answered in time; retry later"
        ) from None
    except (ResultNotFound, SerializationError) as exc:
        log.error("sync_job_failed", function=function, job_id=job_id, error=str(exc))
        raise _worker_error() from None
    try:
        return reply_model.model_validate(result)
    except ValidationError as exc:
        log.error("sync_job_unreadable_reply", function=function, errors=str(exc))
        raise _worker_error() from None


def _worker_error() -> ApiError:
    return ApiError(502, "worker_error", "the worker could not complete the request")


async def sync_action(
    call: Call, params: ThreadCustomActionParams
) -> SyncCustomActionResponse:
    """``threads.sync_custom_action``: ``{"updated_item": ...}`` or ``{}``."""
    if params.item_id is None:
        await call.state["history"].get_thread(call.user.id, params.thread_id)
    else:
        await widget_sender(call, params.thread_id, params.item_id)
    job = SyncActionJob(
        thread_id=params.thread_id,
        user_id=call.user.id,
        request_id=call.request_id,
        item_id=params.item_id,
        action=params.action,
    )
    reply = await call_worker(call, SYNC_ACTION_JOB, job, SyncActionReply)
    if reply.error is not None:
        raise ApiError(422, "action_failed", reply.error)
    updated = reply.updated_item
    if updated is not None:
        updated = call.links.fresh_item(updated)
    return SyncCustomActionResponse(updated_item=updated)


def _check_audio(call: Call, params: InputTranscribeParams) -> None:
    if not media_type(params.mime_type).startswith("audio/"):
        raise ApiError(
            415, "unsupported_media_type", "input.transcribe: params.mime_type: audio"
        )
    try:
        audio = base64.b64decode(params.audio_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            422, "invalid_audio", "input.transcribe: params.audio_base64: not base64"
        ) from None
    if not audio:
        raise ApiError(422, "invalid_audio", "input.transcribe: the audio is empty")
    limit = call.state["settings"].gateway_transcribe_max_bytes
    if len(audio) > limit:
        raise ApiError(
            413, "audio_too_large", f"input.transcribe: at most {limit} bytes of audio"
        )


async def transcribe(call: Call, params: InputTranscribeParams) -> TranscriptionResult:
    """``input.transcribe``: ``{"text": ...}`` from the worker's provider."""
    # Up to 33 MB of base64 to decode: off the event loop.
    await asyncio.to_thread(_check_audio, call, params)
    job = TranscribeJob(
        user_id=call.user.id,
        request_id=call.request_id,
        audio_base64=params.audio_base64,
        mime_type=params.mime_type,
    )
    reply = await call_worker(call, TRANSCRIBE_JOB, job, TranscribeReply)
    match reply.error:
        case "unavailable":
            raise ApiError(
                501,
                "transcription_unavailable",
                "speech-to-text is not available with the configured model provider",
            )
        case "failed":
            raise ApiError(
                502, "transcription_failed", "the speech-to-text provider failed"
            )
        case None:
            return TranscriptionResult(text=reply.text or "")
        case _:
            assert_never(reply.error)
