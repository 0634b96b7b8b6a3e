"""POST|PUT /attachments/{id}/upload and GET /attachments/{id}/preview: signed links.

No bearer token: the link's signature (``upload_links``) names the attachment,
its owner and an expiry. A forged or altered link is a 403; a link to an
attachment that no longer exists is a 404.
"""

import time
from typing import Annotated, Any

import structlog
from chatkit.types import Attachment, ImageAttachment
from fastapi import APIRouter, Path, Query, Request, Response

from gateway.attachments import attachment_not_found, storage_unavailable, with_links
from gateway.errors import ApiError
from gateway.media_types import has_image_signature, is_image
from gateway.protocol import ID_PATTERN
from gateway.state import State, StateDep
from gateway.upload_body import read_upload
from gateway.upload_links import (
    AttachmentLinks,
    LinkPurpose,
    LinkRefused,
    SignedLink,
    public_base_url,
)
from gateway.views import chatkit_json
from shared.attachment_blobs import BlobNotFound, blob_key
from shared.history_client import HistoryNotFound

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/attachments", tags=["attachments"])

AttachmentId = Annotated[str, Path(pattern=ID_PATTERN)]
LinkUser = Annotated[str | None, Query(description="owner named by the link")]
LinkExpiry = Annotated[str | None, Query(description="expiry, Unix seconds")]
LinkSignature = Annotated[str | None, Query(description="the link's signature")]
UNTYPED = frozenset({"", "application/octet-stream"})
ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
"""ChatKit uploads and shows previews from OpenAI's iframe, another origin; the
signed link is the credential, so any origin may read the answer."""
MAX_EXPIRY_DIGITS = 12
_REFUSALS = {
    "invalid_signature": "the link's signature does not verify",
    "link_expired": "the link has expired; ask for a new one",
}
_LINK_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "The link is forged, altered or expired"},
    404: {"description": "The attachment no longer exists"},
}


def _verified(
    state: State,
    purpose: LinkPurpose,
    attachment_id: str,
    query: tuple[str | None, str | None, str | None],
) -> SignedLink:
    user, exp, sig = query
    if not user or not sig or not exp or not exp.isdigit():
        raise ApiError(403, "invalid_signature", _REFUSALS["invalid_signature"])
    if len(exp) > MAX_EXPIRY_DIGITS:
        raise ApiError(403, "invalid_signature", _REFUSALS["invalid_signature"])
    link = SignedLink(user=user, exp=int(exp), sig=sig)
    try:
        state["links"].verify(purpose, attachment_id, link)
    except LinkRefused as refused:
        raise ApiError(403, refused.reason, _REFUSALS[refused.reason]) from None
    return link


async def _attachment(state: State, user_id: str, attachment_id: str) -> Attachment:
    try:
        return await state["history"].get_attachment(user_id, attachment_id)
    except HistoryNotFound:
        raise attachment_not_found(attachment_id) from None


def _check_content(attachment: Attachment, declared: str, data: bytes) -> None:
    mime_type = attachment.mime_type
    if declared not in UNTYPED and declared != mime_type:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the upload is {declared}; the attachment was created as {mime_type}",
        )
    if is_image(mime_type) and not has_image_signature(mime_type, data):
        raise ApiError(
            415, "unsupported_media_type", f"the upload is not a {mime_type} image"
        )


_UPLOAD_DOCS: dict[str, Any] = {
    "summary": "Upload an attachment's bytes (signed link from attachments.create)",
    "response_class": Response,
    "responses": {
        200: {"description": "The uploaded Attachment (ChatKit JSON)"},
        **_LINK_ERRORS,
        409: {"description": "The attachment's bytes were already uploaded"},
        413: {"description": "Larger than GATEWAY_ATTACHMENT_MAX_BYTES"},
        415: {"description": "Type not accepted, or bytes not of the declared type"},
    },
}


@router.post(
    "/{attachment_id}/upload", operation_id="upload_attachment", **_UPLOAD_DOCS
)
@router.put(
    "/{attachment_id}/upload", operation_id="upload_attachment_put", **_UPLOAD_DOCS
)
async def upload(
    attachment_id: AttachmentId,
    request: Request,
    state: StateDep,
    user: LinkUser = None,
    exp: LinkExpiry = None,
    sig: LinkSignature = None,
) -> Response:
    """Store the bytes (multipart ``file`` field or raw body); answer the Attachment."""
    query = (user, exp, sig)
    owner = _verified(state, "attachment-upload", attachment_id, query).user
    attachment = await _attachment(state, owner, attachment_id)
    if attachment.upload_descriptor is None:
        raise ApiError(409, "already_uploaded", "this attachment is already uploaded")
    settings = state["settings"]
    if attachment.mime_type not in settings.gateway_attachment_mime_types:
        raise ApiError(
            415, "unsupported_media_type", f"{attachment.mime_type} is not accepted"
        )
    uploaded = await read_upload(request, settings.gateway_attachment_max_bytes)
    _check_content(attachment, uploaded.declared_type, uploaded.data)
    try:
        await state["blobs"].put(
            blob_key(owner, attachment_id), uploaded.data, attachment.mime_type
        )
    except Exception as exc:
        raise storage_unavailable(exc) from None
    stored = attachment.model_copy(update={"upload_descriptor": None})
    await state["history"].save_attachment(owner, stored)
    log.info(
        "attachment_uploaded", attachment_id=attachment_id, bytes=len(uploaded.data)
    )
    links = AttachmentLinks(state["links"], public_base_url(settings, request), owner)
    body = chatkit_json(with_links(stored, links))
    return Response(content=body, media_type="application/json", headers=ANY_ORIGIN)


@router.get(
    "/{attachment_id}/preview",
    summary="An image attachment's bytes (signed link)",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, **_LINK_ERRORS},
)
async def preview(
    attachment_id: AttachmentId,
    state: StateDep,
    user: LinkUser = None,
    exp: LinkExpiry = None,
    sig: LinkSignature = None,
) -> Response:
    """The image, privately cacheable until the link expires, embeddable anywhere."""
    query = (user, exp, sig)
    link = _verified(state, "attachment-preview", attachment_id, query)
    owner = link.user
    attachment = await _attachment(state, owner, attachment_id)
    if not isinstance(attachment, ImageAttachment):
        raise attachment_not_found(attachment_id)
    try:
        data = await state["blobs"].get(blob_key(owner, attachment_id))
    except BlobNotFound:
        raise attachment_not_found(attachment_id) from None
    except Exception as exc:
        raise storage_unavailable(exc) from None
    headers = {
        **ANY_ORIGIN,
        # Cached by this browser only, and no longer than the link is valid.
        "Cache-Control": f"private, max-age={max(0, link.exp - int(time.time()))}",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content=data, media_type=attachment.mime_type, headers=headers)
