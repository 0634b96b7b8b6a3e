"""The arq job `transcribe`: dictation audio to text through the model provider.

Only a provider with an OpenAI-compatible client (providers.py) can transcribe:
`audio.transcriptions.create` with WORKER_TRANSCRIBE_MODEL. Without one (the
offline demo model, Gemini) the reply is `unavailable`; a provider error is
`failed`, its text only in the (redacted) log.
"""

import base64
import binascii
import time
from typing import Any

import structlog
from openai import AsyncOpenAI

from shared.jobs import TranscribeJob, TranscribeReply

from .redaction import redacted_error, worker_secrets
from .resources import RESOURCES_KEY, WorkerResources

TRANSCRIBE_TIMEOUT_S = 120.0
"""Longest wait for the provider; dictation clips are short."""

# The provider tells the format by the file name; media subtypes that differ.
_EXTENSIONS = {"mpeg": "mp3", "x-m4a": "m4a", "x-wav": "wav", "wave": "wav"}

log = structlog.get_logger("agent_worker.transcribe")


async def transcribe(ctx: dict[str, Any], payload: object) -> dict[str, Any]:
    """arq job function: a TranscribeJob in, a TranscribeReply (as JSON) out."""
    job = TranscribeJob.model_validate(payload)
    resources: WorkerResources = ctx[RESOURCES_KEY]
    with structlog.contextvars.bound_contextvars(request_id=job.request_id):
        reply = await transcribe_audio(resources, job)
    return reply.model_dump(mode="json")


async def transcribe_audio(
    resources: WorkerResources, job: TranscribeJob
) -> TranscribeReply:
    """The text of the job's audio, or why there is none."""
    client = resources.model.client
    if client is None:
        log.info("transcription unavailable", model=resources.model.label)
        return TranscribeReply(error="unavailable")
    try:
        audio = base64.b64decode(job.audio_base64, validate=True)
    except binascii.Error:
        log.warning("transcription audio is not base64")
        return TranscribeReply(error="failed")
    started = time.perf_counter()
    try:
        text = await _transcribe(client, resources, audio, job.mime_type)
    except Exception as error:
        secrets = worker_secrets(resources.settings)
        log.error("transcription failed", **redacted_error(error, secrets))
        return TranscribeReply(error="failed")
    log.info(
        "transcribed",
        audio_bytes=len(audio),
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return TranscribeReply(text=text)


async def _transcribe(
    client: AsyncOpenAI, resources: WorkerResources, audio: bytes, mime_type: str
) -> str:
    media_type = mime_type.split(";", 1)[0].strip().lower()
    result = await client.audio.transcriptions.create(
        model=resources.settings.worker_transcribe_model,
        file=(audio_filename(media_type), audio, media_type),
        timeout=TRANSCRIBE_TIMEOUT_S,
    )
    return result.text


def audio_filename(media_type: str) -> str:
    """A file name whose extension names the audio format (`audio/webm` -> .webm)."""
    subtype = media_type.partition("/")[2] or "webm"
    return f"audio.{_EXTENSIONS.get(subtype, subtype)}"
