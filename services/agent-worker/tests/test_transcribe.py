"""transcribe.py: the `transcribe` job through the provider's speech-to-text."""

import base64
from collections.abc import AsyncIterator

import pytest

from shared.ids import new_id
from shared.jobs import TRANSCRIBE_JOB, TranscribeJob, TranscribeReply
from testkit.fake_model import recorded_requests

from .conftest import API_KEY, worker_settings
from .harness import Harness

AUDIO = b"\x1aE\xdf\xa3 not really webm, but bytes all the same"


def _job(
    audio: bytes = AUDIO, mime_type: str = "audio/webm;codecs=opus"
) -> TranscribeJob:
    return TranscribeJob(
        user_id="u-transcribe",
        request_id=new_id("req"),
        audio_base64=base64.b64encode(audio).decode(),
        mime_type=mime_type,
    )


async def _transcribe(harness: Harness, job: TranscribeJob) -> TranscribeReply:
    return TranscribeReply.model_validate(await harness.call(TRANSCRIBE_JOB, job))


@pytest.fixture
async def demo_harness(
    redis_url: str, history_url: str, worker_queue: str
) -> AsyncIterator[Harness]:
    harness = Harness(worker_settings(redis_url, history_url, worker_queue))
    yield harness
    await harness.aclose()


@pytest.fixture
async def broken_harness(
    redis_url: str, history_url: str, worker_queue: str, fake_model: str
) -> AsyncIterator[Harness]:
    """A provider whose speech-to-text endpoint does not exist (404)."""
    settings = worker_settings(
        redis_url,
        history_url,
        worker_queue,
        openai_api_key=API_KEY,
        openai_base_url=f"{fake_model}/missing",
    )
    harness = Harness(settings)
    yield harness
    await harness.aclose()


async def test_transcription_through_the_fake_model_returns_its_text(
    model_harness: Harness, fake_model: str
) -> None:
    reply = await _transcribe(model_harness, _job())

    assert reply == TranscribeReply(text=f"transcript of {len(AUDIO)} bytes")
    sent = [
        r.body
        for r in recorded_requests(fake_model)
        if r.path.endswith("transcriptions")
    ][-1]
    assert sent["model"] == "gpt-4o-mini-transcribe"
    assert (sent["filename"], sent["size"]) == ("audio.webm", len(AUDIO))


async def test_transcription_without_an_openai_compatible_provider_is_unavailable(
    demo_harness: Harness,
) -> None:
    reply = await _transcribe(demo_harness, _job())

    assert reply == TranscribeReply(error="unavailable")


async def test_provider_failure_is_reported_as_failed_without_its_text(
    broken_harness: Harness, capfd: pytest.CaptureFixture[str]
) -> None:
    reply = await _transcribe(broken_harness, _job())

    assert reply == TranscribeReply(error="failed")
    assert API_KEY not in capfd.readouterr().err


async def test_audio_that_is_not_base64_is_reported_as_failed(
    model_harness: Harness,
) -> None:
    job = _job().model_copy(update={"audio_base64": "not base64!"})

    assert await _transcribe(model_harness, job) == TranscribeReply(error="failed")
