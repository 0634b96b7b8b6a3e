"""The ten non-streaming ChatKit ops, answered from history like ``ChatKitServer``.

Deliberate difference from the SDK: an unknown thread (or another user's) is a
404 JSON error here, where the SDK lets ``NotFoundError`` become a 500.
"""

from typing import assert_never

from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    HiddenContextItem,
    InputTranscribeReq,
    ItemsFeedbackReq,
    ItemsListReq,
    NonStreamingReq,
    Page,
    SDKHiddenContextItem,
    Thread,
    ThreadItem,
    ThreadMetadata,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsSyncCustomActionReq,
    ThreadsUpdateReq,
)
from pydantic import BaseModel

from gateway.auth import User
from gateway.errors import ApiError
from shared.history_api import ItemPage
from shared.history_client import HistoryClient

DEFAULT_PAGE_SIZE = 20
"""The SDK's ``DEFAULT_PAGE_SIZE``."""
MAX_PAGE_SIZE = 100
"""Larger requested pages are shortened; ``has_more`` tells the client to go on."""


def chatkit_json(model: BaseModel) -> bytes:
    """Serialize exactly as ``ChatKitServer._serialize`` does."""
    return model.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    ).encode()


def not_implemented(op: str) -> ApiError:
    """The 501 for an op that a later issue implements."""
    return ApiError(501, "not_implemented", f"{op} is not supported yet")


def is_hidden(item: ThreadItem) -> bool:
    """Hidden context items feed the model but are never shown to clients."""
    return isinstance(item, HiddenContextItem | SDKHiddenContextItem)


def thread_response(
    thread: ThreadMetadata, items: Page[ThreadItem] | None = None
) -> Thread:
    """A Thread as the SDK answers it: hidden items dropped, ``metadata`` empty."""
    page = items if items is not None else Page[ThreadItem]()
    page.data = [item for item in page.data if not is_hidden(item)]
    return Thread(
        id=thread.id,
        title=thread.title,
        created_at=thread.created_at,
        items=page,
        status=thread.status,
        allowed_image_domains=thread.allowed_image_domains,
    )


def page_size(limit: int | None) -> int:
    """The SDK's ``limit or DEFAULT_PAGE_SIZE``, kept within our bounds."""
    size = limit or DEFAULT_PAGE_SIZE
    if size < 1:
        raise ApiError(422, "invalid_request", "params.limit: must be positive")
    return min(size, MAX_PAGE_SIZE)


def _items_page(page: ItemPage) -> Page[ThreadItem]:
    return Page[ThreadItem](
        data=[record.item for record in page.data],
        has_more=page.has_more,
        after=page.after,
    )


async def answer(request: NonStreamingReq, user: User, history: HistoryClient) -> bytes:
    """The JSON body of a non-streaming op (``HistoryNotFound`` becomes a 404)."""
    match request:
        case ThreadsGetByIdReq():
            return chatkit_json(await _get_thread(request, user, history))
        case ThreadsListReq():
            return chatkit_json(await _list_threads(request, user, history))
        case ItemsListReq():
            return chatkit_json(await _list_items(request, user, history))
        case ThreadsUpdateReq():
            return chatkit_json(await _update_thread(request, user, history))
        case ThreadsDeleteReq():
            await history.delete_thread(user.id, request.params.thread_id)
            return b"{}"
        case (
            ItemsFeedbackReq()
            | AttachmentsCreateReq()
            | AttachmentsDeleteReq()
            | InputTranscribeReq()
            | ThreadsSyncCustomActionReq()
        ):
            raise not_implemented(request.type)
        case _:
            assert_never(request)


async def _get_thread(
    request: ThreadsGetByIdReq, user: User, history: HistoryClient
) -> Thread:
    thread_id = request.params.thread_id
    record = await history.get_thread(user.id, thread_id)
    # The SDK shows the OLDEST page (asc), unlike items.list's newest-first default.
    items = await history.list_items(
        user.id, thread_id, limit=DEFAULT_PAGE_SIZE, order="asc"
    )
    return thread_response(record.thread, _items_page(items))


async def _list_threads(
    request: ThreadsListReq, user: User, history: HistoryClient
) -> Page[Thread]:
    params = request.params
    page = await history.list_threads(
        user.id,
        limit=page_size(params.limit),
        after=params.after,
        order=params.order,
        sort="created_at",
    )
    return Page[Thread](
        data=[thread_response(record.thread) for record in page.data],
        has_more=page.has_more,
        after=page.after,
    )


async def _list_items(
    request: ItemsListReq, user: User, history: HistoryClient
) -> Page[ThreadItem]:
    params = request.params
    page = await history.list_items(
        user.id,
        params.thread_id,
        limit=page_size(params.limit),
        after=params.after,
        order=params.order,
    )
    items = _items_page(page)
    # Filtered after paging, as the SDK does: a page may hold fewer than `limit`.
    items.data = [item for item in items.data if not is_hidden(item)]
    return items


async def _update_thread(
    request: ThreadsUpdateReq, user: User, history: HistoryClient
) -> Thread:
    record = await history.get_thread(user.id, request.params.thread_id)
    thread = record.thread.model_copy(update={"title": request.params.title})
    await history.save_thread(user.id, thread)
    return thread_response(thread)
