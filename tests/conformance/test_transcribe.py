"""``input.transcribe``: dictation through the model provider's speech-to-text."""

from chatkit.types import InputTranscribeReq

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import TRANSCRIPTION
from testkit.fake_model import transcript_of

from .frames import assert_refused
from .targets import Target

WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


async def test_audio_is_transcribed_by_the_model_provider(
    client: ChatKitClient,
) -> None:
    audio = WEBM_MAGIC * 64

    result = await client.transcribe(audio, "audio/webm;codecs=opus")

    assert result.text == transcript_of(len(audio))


async def test_audio_that_is_not_base64_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    req = InputTranscribeReq.model_validate(
        {"params": {"audio_base64": "not base64!!", "mime_type": "audio/webm"}}
    )
    # The SDK's b64decode raises inside process(): a bare 500.
    await assert_refused(target, client, req, ours=(422, "invalid_audio"), sdk="crash")


async def test_empty_audio_is_refused_by_ours_only(
    target: Target, client: ChatKitClient
) -> None:
    req = InputTranscribeReq.model_validate(
        {"params": {"audio_base64": "", "mime_type": "audio/webm"}}
    )
    response = await client.post(req)
    if target.ours:
        # Ours refuses before spending a provider call on nothing.
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_audio"
    else:
        # The SDK hands zero bytes to transcribe(), and the provider answers.
        assert response.status_code == 200, response.text
        assert TRANSCRIPTION.validate_json(response.content).text == transcript_of(0)
