"""``attachments.create`` / ``attachments.delete`` and the attachments of a message.

Two-phase upload, as ChatKit's ``two_phase`` strategy expects: ``create``
answers an Attachment whose ``upload_descriptor`` is a signed link to this
gateway (``routes/attachments.py``); the bytes go to the attachment blob store
shared with the workers. A message may reference only uploaded attachments of
its own user.
"""

import asyncio
from collections.abc import Sequence

import structlog
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)

from gateway.call import Call
from gateway.errors import ApiError
from gateway.media_types import is_image, media_type
from gateway.upload_links import AttachmentLinks
from shared.attachment_blobs import blob_key
from shared.history_client import HistoryNotFound
from shared.ids import new_id

log = structlog.get_logger(__name__)

MAX_NAME_CHARS = 255


def attachment_not_found(attachment_id: str) -> ApiError:
    """The 404 for an attachment that is not the caller's (or does not exist)."""
    return ApiError(404, "not_found", f"attachment {attachment_id} not found")


def storage_unavailable(exc: Exception) -> ApiError:
    """The 503 for a failing blob store (its error is logged, not shown)."""
    log.error("blob_store_failed", error_type=type(exc).__name__, error=str(exc))
    return ApiError(
        503, "storage_unavailable", "attachment storage is unavailable; retry later"
    )


def check_media_type(call: Call, mime_type: str) -> str:
    """The normalised MIME type, or a 415 if attachments may not have it."""
    normalised = media_type(mime_type)
    allowed = call.state["settings"].gateway_attachment_mime_types
    if normalised not in allowed:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"attachments of type {normalised or '(none)'} are not accepted; "
            f"allowed: {', '.join(allowed)}",
        )
    return normalised


def check_size(call: Call, size: int) -> None:
    """A 413 for an attachment over GATEWAY_ATTACHMENT_MAX_BYTES."""
    limit = call.state["settings"].gateway_attachment_max_bytes
    if size > limit:
        raise ApiError(
            413, "attachment_too_large", f"attachments may be at most {limit} bytes"
        )


def with_links(attachment: Attachment, links: AttachmentLinks) -> Attachment:
    """The attachment with a fresh preview link (images) and upload link (pending)."""
    update: dict[str, object] = {}
    if attachment.upload_descriptor is not None:
        update["upload_descriptor"] = AttachmentUploadDescriptor(
            url=links.url("attachment-upload", attachment.id), method="POST"
        )
    if isinstance(attachment, ImageAttachment):
        update["preview_url"] = links.url("attachment-preview", attachment.id)
    return attachment.model_copy(update=update)


async def create(call: Call, params: AttachmentCreateParams) -> Attachment:
    """Register an attachment and answer it with its signed upload link."""
    name = params.name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise ApiError(
            422,
            "invalid_request",
            f"attachments.create: params.name: 1 to {MAX_NAME_CHARS} characters",
        )
    if params.size < 0:
        raise ApiError(
            422, "invalid_request", "attachments.create: params.size: negative"
        )
    check_size(call, params.size)
    mime_type = check_media_type(call, params.mime_type)
    attachment_id = new_id("atc")
    links = call.links
    upload = AttachmentUploadDescriptor(
        url=links.url("attachment-upload", attachment_id), method="POST"
    )
    attachment: Attachment
    if is_image(mime_type):
        attachment = ImageAttachment(
            id=attachment_id,
            name=name,
            mime_type=mime_type,
            upload_descriptor=upload,
            preview_url=links.url("attachment-preview", attachment_id),
        )
    else:
        attachment = FileAttachment(
            id=attachment_id, name=name, mime_type=mime_type, upload_descriptor=upload
        )
    await call.state["history"].save_attachment(call.user.id, attachment)
    return attachment


async def delete(call: Call, attachment_id: str) -> None:
    """Forget an attachment: its bytes first, then its metadata."""
    history = call.state["history"]
    try:
        await history.get_attachment(call.user.id, attachment_id)
    except HistoryNotFound:
        raise attachment_not_found(attachment_id) from None
    try:
        await call.state["blobs"].delete(blob_key(call.user.id, attachment_id))
    except Exception as exc:
        raise storage_unavailable(exc) from None
    try:
        await history.delete_attachment(call.user.id, attachment_id)
    except HistoryNotFound:
        raise attachment_not_found(attachment_id) from None


async def for_message(call: Call, attachment_ids: Sequence[str]) -> list[Attachment]:
    """The caller's uploaded attachments a new message references, in order."""
    if len(set(attachment_ids)) != len(attachment_ids):
        raise ApiError(
            422, "invalid_request", "params.input.attachments: an id appears twice"
        )
    loaded = await asyncio.gather(*(_uploaded(call, a) for a in attachment_ids))
    return [with_links(attachment, call.links) for attachment in loaded]


async def _uploaded(call: Call, attachment_id: str) -> Attachment:
    try:
        attachment = await call.state["history"].get_attachment(
            call.user.id, attachment_id
        )
    except HistoryNotFound:
        raise attachment_not_found(attachment_id) from None
    if attachment.upload_descriptor is not None:
        raise ApiError(
            409,
            "attachment_not_uploaded",
            f"attachment {attachment_id} has no uploaded content yet",
        )
    return attachment


async def save_thread_ids(call: Call, attachments: Sequence[Attachment]) -> None:
    """Store each attachment's new ``thread_id``, as the SDK does for a message.

    Best effort: the run is already under way and the message (which carries
    the attachments) is stored; a failure here only leaves the id unset.
    """
    history = call.state["history"]
    results = await asyncio.gather(
        *(history.save_attachment(call.user.id, a) for a in attachments),
        return_exceptions=True,
    )
    for attachment, result in zip(attachments, results, strict=True):
        if isinstance(result, Exception):
            log.warning(
                "attachment_thread_id_not_saved",
                attachment_id=attachment.id,
                error_type=type(result).__name__,
            )
