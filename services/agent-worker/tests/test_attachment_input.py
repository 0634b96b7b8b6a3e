"""attachment_input.py: stored attachment bytes become image/file parts of the input."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatkit.types import (
    AssistantMessageItem,
    FileAttachment,
    ImageAttachment,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import AnyUrl
from structlog.testing import capture_logs

from agent_worker.agent_input import build_agent_input
from agent_worker.attachment_input import AttachmentParts
from shared.attachment_blobs import LocalBlobs, blob_key
from shared.history_api import ItemRecord
from shared.ids import new_id
from testkit.fake_model import recorded_requests

from .harness import Harness

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"
PDF = b"%PDF-1.4 fake document"
USER = "u-attachments"


def _image(attachment_id: str | None = None) -> ImageAttachment:
    attachment_id = attachment_id or new_id("atc")
    return ImageAttachment(
        id=attachment_id,
        name="cat.png",
        mime_type="image/png",
        preview_url=AnyUrl(
            f"http://127.0.0.1:8000/attachments/{attachment_id}/preview"
        ),
    )


def _file() -> FileAttachment:
    return FileAttachment(
        id=new_id("atc"), name="notes.pdf", mime_type="application/pdf"
    )


def _message(text: str, *attachments: ImageAttachment | FileAttachment) -> ItemRecord:
    item = UserMessageItem(
        id=new_id("msg"),
        thread_id="thr_attachments",
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text=text)],
        attachments=list(attachments),
        inference_options=InferenceOptions(),
    )
    return ItemRecord(item=item)


def _data_url(mime_type: str, data: bytes) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


async def test_image_and_file_become_input_parts_after_the_text(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    image, document = _image(), _file()
    await blobs.put(blob_key(USER, image.id), PNG, "image/png")
    await blobs.put(blob_key(USER, document.id), PDF, "application/pdf")

    items = await build_agent_input(
        [_message("look", image, document)], AttachmentParts(blobs, USER)
    )

    assert items == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {
                    "type": "input_image",
                    "detail": "auto",
                    "image_url": _data_url("image/png", PNG),
                },
                {
                    "type": "input_file",
                    "file_data": _data_url("application/pdf", PDF),
                    "filename": "notes.pdf",
                },
            ],
        }
    ]


async def test_missing_bytes_leave_the_part_out_with_a_warning(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    kept, lost = _image(), _image()
    await blobs.put(blob_key(USER, kept.id), PNG, "image/png")

    with capture_logs() as logs:
        items = await build_agent_input(
            [_message("two pictures", lost, kept)], AttachmentParts(blobs, USER)
        )

    (message,) = items
    parts: Any = dict(message)["content"]
    assert [part["type"] for part in parts] == ["input_text", "input_image"]
    assert parts[1]["image_url"] == _data_url("image/png", PNG)
    assert {"event": "attachment bytes missing", "attachment_id": lost.id} in [
        {key: entry.get(key) for key in ("event", "attachment_id")} for entry in logs
    ]


async def test_another_users_bytes_are_never_read(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    image = _image()
    await blobs.put(blob_key("someone-else", image.id), PNG, "image/png")

    items = await build_agent_input(
        [_message("mine?", image)], AttachmentParts(blobs, USER)
    )

    assert items == [{"role": "user", "content": "mine?"}]


async def test_image_attachment_reaches_the_model_as_image_data(
    model_harness: Harness, fake_model: str, attachments_dir: Path
) -> None:
    conversation = model_harness.conversation()
    image = _image()
    await LocalBlobs(attachments_dir).put(
        blob_key(conversation.user_id, image.id), PNG, "image/png"
    )

    turn = await conversation.say(f"what is this? {conversation.user_id}", [image])

    (answer,) = turn.done
    assert isinstance(answer, AssistantMessageItem)
    assert answer.content[0].text == "I see 1 attachment(s)."
    (request,) = [
        r.body
        for r in recorded_requests(fake_model)
        if conversation.user_id in json.dumps(r.body)
    ]
    assert _data_url("image/png", PNG) in json.dumps(request)
