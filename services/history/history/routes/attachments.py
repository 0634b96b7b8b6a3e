"""``/v1/attachments``: the user's attachment metadata."""

from fastapi import APIRouter, Response

from history.deps import IdPath, PoolDep, UserId
from history.errors import ApiError
from history.store import attachments
from shared.history_api import AttachmentWrite

router = APIRouter(prefix="/attachments", tags=["attachments"])


@router.put("/{attachment_id}", status_code=204)
async def save_attachment(
    attachment_id: IdPath, body: AttachmentWrite, user_id: UserId, pool: PoolDep
) -> Response:
    """Create or overwrite an attachment's metadata."""
    if body.attachment.id != attachment_id:
        raise ApiError(422, "id_mismatch", "attachment.id differs from the path")
    await attachments.save_attachment(pool, user_id, body.attachment)
    return Response(status_code=204)


@router.get("/{attachment_id}")
async def get_attachment(
    attachment_id: IdPath, user_id: UserId, pool: PoolDep
) -> AttachmentWrite:
    """One attachment's metadata."""
    attachment = await attachments.get_attachment(pool, user_id, attachment_id)
    return AttachmentWrite(attachment=attachment)


@router.delete("/{attachment_id}", status_code=204)
async def delete_attachment(
    attachment_id: IdPath, user_id: UserId, pool: PoolDep
) -> Response:
    """Delete an attachment's metadata."""
    await attachments.delete_attachment(pool, user_id, attachment_id)
    return Response(status_code=204)
