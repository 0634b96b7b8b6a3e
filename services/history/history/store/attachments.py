"""Attachment metadata (ChatKit ``Attachment``), per user."""

from chatkit.types import Attachment
from pydantic import TypeAdapter

from history.db import Executor
from history.store.errors import Conflict, NotFound

ATTACHMENT_ADAPTER: TypeAdapter[Attachment] = TypeAdapter(Attachment)

SAVE = """
INSERT INTO attachments (id, user_id, data) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = now()
WHERE attachments.user_id = EXCLUDED.user_id
RETURNING id
"""
GET = "SELECT data FROM attachments WHERE id = $1 AND user_id = $2"
DELETE = "DELETE FROM attachments WHERE id = $1 AND user_id = $2 RETURNING id"


async def save_attachment(db: Executor, user_id: str, attachment: Attachment) -> None:
    """Create or overwrite; ``Conflict`` if another user owns the id."""
    data = ATTACHMENT_ADAPTER.dump_python(attachment, mode="json", by_alias=True)
    if await db.fetchval(SAVE, attachment.id, user_id, data) is None:
        raise Conflict("id_taken", "this attachment id is already in use")


async def get_attachment(db: Executor, user_id: str, attachment_id: str) -> Attachment:
    """The user's attachment; ``NotFound`` otherwise."""
    data = await db.fetchval(GET, attachment_id, user_id)
    if data is None:
        raise NotFound("attachment")
    return ATTACHMENT_ADAPTER.validate_python(data)


async def delete_attachment(db: Executor, user_id: str, attachment_id: str) -> None:
    """Delete the user's attachment; ``NotFound`` otherwise."""
    if await db.fetchval(DELETE, attachment_id, user_id) is None:
        raise NotFound("attachment")
