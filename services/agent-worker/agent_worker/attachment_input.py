"""A user message's attachments as model input parts, built from the stored bytes.

Images become `input_image` parts and other files `input_file` parts, both as
base64 data URLs: the upload URLs the gateway signs are not reachable by a
model provider. Bytes that cannot be read are left out with a warning, so a
lost upload never fails the turn.
"""

import asyncio
import base64
from collections.abc import Sequence
from typing import assert_never

import structlog
from chatkit.types import Attachment, FileAttachment, ImageAttachment
from openai.types.responses import (
    ResponseInputFileParam,
    ResponseInputImageParam,
)

from shared.attachment_blobs import AttachmentBlobs, BlobNotFound, blob_key

AttachmentPart = ResponseInputImageParam | ResponseInputFileParam

log = structlog.get_logger("agent_worker.attachment_input")


class AttachmentParts:
    """Reads one user's attachment bytes and turns them into input parts."""

    def __init__(self, blobs: AttachmentBlobs, user_id: str) -> None:
        self._blobs = blobs
        self._user_id = user_id

    async def parts(self, attachments: Sequence[Attachment]) -> list[AttachmentPart]:
        """The parts of the attachments whose bytes exist, in their order."""
        contents = await asyncio.gather(*(self._read(a) for a in attachments))
        return [
            input_part(attachment, data)
            for attachment, data in zip(attachments, contents, strict=True)
            if data is not None
        ]

    async def _read(self, attachment: Attachment) -> bytes | None:
        try:
            return await self._blobs.get(blob_key(self._user_id, attachment.id))
        except BlobNotFound:
            log.warning("attachment bytes missing", attachment_id=attachment.id)
        except Exception as error:
            log.warning(
                "attachment bytes unreadable",
                attachment_id=attachment.id,
                error_type=type(error).__name__,
            )
        return None


def input_part(attachment: Attachment, data: bytes) -> AttachmentPart:
    """One attachment's bytes as the Responses content part the model reads."""
    url = f"data:{attachment.mime_type};base64,{base64.b64encode(data).decode()}"
    match attachment:
        case ImageAttachment():
            return {"type": "input_image", "detail": "auto", "image_url": url}
        case FileAttachment():
            return {"type": "input_file", "file_data": url, "filename": attachment.name}
        case _:
            assert_never(attachment)
