"""GET/DELETE /api/conversations[/{id}]: the REST face over the same history."""

from datetime import datetime
from typing import Annotated

from chatkit.types import FeedbackKind, ThreadItem
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from gateway.auth import CurrentUser
from gateway.json_ops import MAX_PAGE_SIZE
from gateway.protocol import ID_PATTERN
from gateway.state import HistoryDep, StateDep
from gateway.upload_links import AttachmentLinks, public_base_url
from gateway.views import is_hidden
from shared.history_api import ItemRecord, ThreadRecord, ToolCallRecord
from shared.history_client import HistoryClient

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

ITEMS_PAGE_SIZE = 100

ConversationId = Annotated[str, Path(pattern=ID_PATTERN)]


class ConversationSummary(BaseModel):
    """A conversation in a list."""

    id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    """Time of the latest message; lists are ordered by it, newest first."""


class ConversationPage(BaseModel):
    """A page of conversations; pass ``after`` back to get the next one."""

    data: list[ConversationSummary] = Field(default_factory=list)
    has_more: bool = False
    after: str | None = None


class ConversationMessage(BaseModel):
    """One visible message, in the seed's shape plus the full ChatKit item."""

    id: str
    role: str
    """``user``, ``assistant``, ``tool`` (tool activity) or the item type."""
    content: str
    """The message's text (empty for tool-activity and other non-text items)."""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    created_at: datetime
    item: ThreadItem
    """The ChatKit thread item as ``items.list`` would return it."""
    feedback: FeedbackKind | None = None
    """The caller's ``items.feedback`` verdict on this message, if any."""


class ConversationDetail(ConversationSummary):
    """A conversation with all its visible messages, oldest first."""

    messages: list[ConversationMessage] = Field(default_factory=list)


def _summary(record: ThreadRecord) -> ConversationSummary:
    thread = record.thread
    return ConversationSummary(
        id=thread.id,
        title=thread.title,
        created_at=thread.created_at,
        updated_at=record.updated_at,
    )


def message_from(record: ItemRecord, links: AttachmentLinks) -> ConversationMessage:
    """The REST view of a stored item (attachment previews freshly signed)."""
    item = links.fresh_item(record.item)
    return ConversationMessage(
        id=item.id,
        role=record.role,
        content=record.content,
        tool_calls=record.tool_calls,
        created_at=item.created_at,
        item=item,
        feedback=record.feedback,
    )


async def _all_items(
    history: HistoryClient, user_id: str, thread_id: str
) -> list[ItemRecord]:
    records: list[ItemRecord] = []
    after = None
    while True:
        page = await history.list_items(
            user_id, thread_id, limit=ITEMS_PAGE_SIZE, after=after, order="asc"
        )
        records.extend(page.data)
        if not page.has_more or page.after is None:
            return records
        after = page.after


def _json(model: BaseModel) -> Response:
    # Attachment metadata is integration-only: left out as ChatKit leaves it out.
    body = model.model_dump_json(context={"exclude_metadata": True})
    return Response(content=body, media_type="application/json")


@router.get("", response_model=ConversationPage, summary="List my conversations")
async def list_conversations(
    user: CurrentUser,
    history: HistoryDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    after: Annotated[
        str | None, Query(description="`after` of the previous page")
    ] = None,
) -> Response:
    """The caller's conversations, most recently updated first."""
    page = await history.list_threads(
        user.id, limit=limit, after=after, order="desc", sort="updated_at"
    )
    return _json(
        ConversationPage(
            data=[_summary(record) for record in page.data],
            has_more=page.has_more,
            after=page.after,
        )
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    summary="One conversation with its messages",
    responses={404: {"description": "No such conversation for this user"}},
)
async def get_conversation(
    conversation_id: ConversationId,
    user: CurrentUser,
    state: StateDep,
    request: Request,
) -> Response:
    """A conversation and its visible messages, oldest first."""
    history = state["history"]
    record = await history.get_thread(user.id, conversation_id)
    items = await _all_items(history, user.id, conversation_id)
    base_url = public_base_url(state["settings"], request)
    links = AttachmentLinks(state["links"], base_url, user.id)
    detail = ConversationDetail(
        **_summary(record).model_dump(),
        messages=[
            message_from(item, links) for item in items if not is_hidden(item.item)
        ],
    )
    return _json(detail)


@router.delete(
    "/{conversation_id}",
    status_code=204,
    summary="Delete a conversation",
    responses={404: {"description": "No such conversation for this user"}},
)
async def delete_conversation(
    conversation_id: ConversationId, user: CurrentUser, history: HistoryDep
) -> Response:
    """Delete a conversation with its messages."""
    await history.delete_thread(user.id, conversation_id)
    return Response(status_code=204)
