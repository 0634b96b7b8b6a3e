"""MemoryAttachmentStore: two-phase uploads to URLs this app serves itself.

``attachments.create`` answers an attachment whose ``upload_descriptor`` points at
``POST /attachments/{id}/upload?token=...``; the token (one per attachment) stands
in for the bearer the browser does not send there. The upload stores the bytes,
clears the descriptor and saves the record, as the SDK's docs describe.
"""

import base64
import secrets
from typing import Any, Generic

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)
from pydantic import AnyUrl

from testkit.reference_app.memory_store import C, MemoryStore


class MemoryAttachmentStore(AttachmentStore[C], Generic[C]):
    """Attachment bytes in memory, with per-attachment upload tokens."""

    def __init__(self, store: MemoryStore[Any], public_url: str) -> None:
        self._store = store
        self._public_url = public_url.rstrip("/")
        self._tokens: dict[str, str] = {}
        self._bytes: dict[str, bytes] = {}

    def _url(self, attachment_id: str, action: str, token: str) -> AnyUrl:
        return AnyUrl(
            f"{self._public_url}/attachments/{attachment_id}/{action}?token={token}"
        )

    async def create_attachment(
        self, input: AttachmentCreateParams, context: C
    ) -> Attachment:
        """A new attachment record with its upload URL (and preview URL for images)."""
        attachment_id = self.generate_attachment_id(input.mime_type, context)
        token = secrets.token_urlsafe(16)
        self._tokens[attachment_id] = token
        descriptor = AttachmentUploadDescriptor(
            url=self._url(attachment_id, "upload", token), method="POST", headers={}
        )
        if input.mime_type.startswith("image/"):
            return ImageAttachment(
                id=attachment_id,
                name=input.name,
                mime_type=input.mime_type,
                upload_descriptor=descriptor,
                preview_url=self._url(attachment_id, "preview", token),
            )
        return FileAttachment(
            id=attachment_id,
            name=input.name,
            mime_type=input.mime_type,
            upload_descriptor=descriptor,
        )

    async def delete_attachment(self, attachment_id: str, context: C) -> None:
        """Forget the bytes of the user's attachment."""
        self._store.attachment_of(context.user_id, attachment_id)
        self._tokens.pop(attachment_id, None)
        self._bytes.pop(attachment_id, None)

    def _owner(self, attachment_id: str, token: str) -> str:
        expected = self._tokens.get(attachment_id)
        owner = self._store.attachment_owner(attachment_id)
        if expected is None or owner is None:
            raise NotFoundError(f"attachment {attachment_id} not found")
        if not secrets.compare_digest(expected, token):
            raise PermissionError("bad upload token")
        return owner

    async def upload(self, attachment_id: str, token: str, data: bytes) -> Attachment:
        """Store the bytes; the record loses its upload descriptor."""
        owner = self._owner(attachment_id, token)
        attachment = self._store.attachment_of(owner, attachment_id)
        self._bytes[attachment_id] = data
        uploaded = attachment.model_copy(update={"upload_descriptor": None})
        self._store.put_attachment(owner, uploaded)
        return uploaded

    async def preview(self, attachment_id: str, token: str) -> tuple[bytes, str]:
        """The uploaded bytes and their MIME type."""
        owner = self._owner(attachment_id, token)
        attachment = self._store.attachment_of(owner, attachment_id)
        return self.bytes_of(attachment_id), attachment.mime_type

    def bytes_of(self, attachment_id: str) -> bytes:
        """The uploaded bytes; ``NotFoundError`` before the upload."""
        try:
            return self._bytes[attachment_id]
        except KeyError:
            raise NotFoundError(f"attachment {attachment_id} not uploaded") from None

    def data_url(self, attachment: Attachment) -> str:
        """The attachment's bytes as a ``data:`` URL (how the model receives them)."""
        encoded = base64.b64encode(self.bytes_of(attachment.id)).decode()
        return f"data:{attachment.mime_type};base64,{encoded}"
