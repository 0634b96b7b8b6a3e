"""The same conversation on both targets gives the same transcript, up to an
explicit list of intentional differences (``transcripts.ALLOWED_DIFFERENCES``)."""

import json
import uuid
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest

from testkit.chatkit_client import ChatKitClient
from testkit.services import Service, Stack
from testkit.tokens import jwt_for

from .targets import Target
from .transcripts import (
    ALLOWED_DIFFERENCES,
    Normaliser,
    Transcript,
    normalised,
    numbered_ids,
    record_conversation,
)


async def _record(target: Target) -> Transcript:
    async with httpx.AsyncClient(base_url=target.url) as http:
        user = f"transcript-{target.name}-{uuid.uuid4().hex[:8]}"
        return await record_conversation(ChatKitClient(http, jwt_for(user)))


@pytest.fixture(scope="module")
async def transcripts(
    ours_stack: Stack, reference_app: Service, service_log_dir: Path
) -> dict[str, tuple[Target, Transcript]]:
    """The scripted conversation, raw, once per target (written to the log dir)."""
    targets = [
        Target("ours", ours_stack.gateway.url),
        Target("reference", reference_app.url),
    ]
    recorded: dict[str, tuple[Target, Transcript]] = {
        target.name: (target, await _record(target)) for target in targets
    }
    folder = service_log_dir / "transcripts"
    folder.mkdir(exist_ok=True)
    for name, (target, transcript) in recorded.items():
        for kind, steps in (
            ("raw", transcript),
            ("normalised", normalised(transcript, target)),
        ):
            path = folder / f"{name}-{kind}.json"
            path.write_text(json.dumps([asdict(s) for s in steps], indent=2))
    return recorded


async def test_both_targets_give_the_same_transcript_up_to_allowed_differences(
    transcripts: dict[str, tuple[Target, Transcript]],
) -> None:
    ours = normalised(transcripts["ours"][1], transcripts["ours"][0])
    reference = normalised(transcripts["reference"][1], transcripts["reference"][0])

    assert [step.name for step in ours] == [step.name for step in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.request == theirs.request, mine.name
        assert mine.answer == theirs.answer, mine.name
        assert mine.items == theirs.items, mine.name


@pytest.mark.parametrize(
    "normaliser", [n for n in ALLOWED_DIFFERENCES if n is not numbered_ids]
)
async def test_every_allowed_difference_really_occurs(
    transcripts: dict[str, tuple[Target, Transcript]], normaliser: Normaliser
) -> None:
    changed = [
        name
        for name, (target, transcript) in transcripts.items()
        if normaliser(transcript, target.name) != transcript
    ]
    assert changed, f"{normaliser} changes neither transcript: drop it from the list"


async def test_the_reference_transcript_follows_the_script(
    transcripts: dict[str, tuple[Target, Transcript]],
) -> None:
    target, raw = transcripts["reference"]
    steps = {step.name: step for step in normalised(raw, target)}
    texts = {
        name: "".join(
            event["update"]["delta"]
            for event in step.answer
            if event["type"] == "thread.item.updated"
            and event["update"]["type"] == "assistant_message.content_part.text_delta"
        )
        for name, step in steps.items()
        if isinstance(step.answer, list)
    }
    assert texts["threads.create"] == "Echo: hello (user turns: 1)"
    assert texts["threads.add_user_message: add task buy milk"].startswith("Tool said:")
    assert texts["threads.add_client_tool_output"] == (
        'Tool said: {"timezone": "Europe/Paris"}'
    )
    assert texts["threads.retry_after_item"] == "Echo: hello (user turns: 1)"
    assert steps["items.feedback"].answer == {}
    assert steps["threads.delete"].answer == {}
    assert steps["threads.get_by_id"].answer == {"refused": True}
