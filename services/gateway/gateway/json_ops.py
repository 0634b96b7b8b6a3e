"""The ten non-streaming ChatKit ops, answered like ``ChatKitServer`` does.

Most are answered from history; attachments also touch the blob store, and
``threads.sync_custom_action`` and ``input.transcribe`` are short worker jobs
(``sync_jobs``). Deliberate difference from the SDK: an unknown thread (or
another user's) is a 404 JSON error here, where the SDK lets ``NotFoundError``
become a 500.
"""

import re
from typing import assert_never

from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    InputTranscribeReq,
    ItemFeedbackParams,
    ItemsFeedbackReq,
    ItemsListReq,
    NonStreamingReq,
    Page,
    Thread,
    ThreadItem,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsSyncCustomActionReq,
    ThreadsUpdateReq,
)

from gateway import attachments, sync_jobs
from gateway.call import Call
from gateway.errors import ApiError
from gateway.partial_items import active_run_items
from gateway.protocol import ID_PATTERN
from gateway.views import chatkit_json, is_hidden, stored_thread, thread_response
from shared.history_api import FeedbackWrite, ItemPage

DEFAULT_PAGE_SIZE = 20
"""The SDK's ``DEFAULT_PAGE_SIZE``."""
MAX_PAGE_SIZE = 100
"""Larger requested pages are shortened; ``has_more`` tells the client to go on."""
MAX_FEEDBACK_ITEMS = 100
_ID_RE = re.compile(ID_PATTERN)


def page_size(limit: int | None) -> int:
    """The SDK's ``limit or DEFAULT_PAGE_SIZE``, kept within our bounds."""
    size = limit or DEFAULT_PAGE_SIZE
    if size < 1:
        raise ApiError(422, "invalid_request", "params.limit: must be positive")
    return min(size, MAX_PAGE_SIZE)


def _items_page(page: ItemPage, call: Call) -> Page[ThreadItem]:
    return Page[ThreadItem](
        data=[call.links.fresh_item(record.item) for record in page.data],
        has_more=page.has_more,
        after=page.after,
    )


ThreadOp = (
    ThreadsGetByIdReq | ThreadsListReq | ItemsListReq | ThreadsUpdateReq
    | ThreadsDeleteReq
)  # fmt: skip
SideOp = (
    ItemsFeedbackReq | AttachmentsCreateReq | AttachmentsDeleteReq
    | InputTranscribeReq | ThreadsSyncCustomActionReq
)  # fmt: skip


async def answer(request: NonStreamingReq, call: Call) -> bytes:
    """The JSON body of a non-streaming op (``HistoryNotFound`` becomes a 404)."""
    match request:
        case (
            ThreadsGetByIdReq()
            | ThreadsListReq()
            | ItemsListReq()
            | ThreadsUpdateReq()
            | ThreadsDeleteReq()
        ):
            return await _thread_op(request, call)
        case (
            ItemsFeedbackReq()
            | AttachmentsCreateReq()
            | AttachmentsDeleteReq()
            | InputTranscribeReq()
            | ThreadsSyncCustomActionReq()
        ):
            return await _side_op(request, call)
        case _:
            assert_never(request)


async def _thread_op(request: ThreadOp, call: Call) -> bytes:
    match request:
        case ThreadsGetByIdReq():
            return chatkit_json(await _get_thread(request, call))
        case ThreadsListReq():
            return chatkit_json(await _list_threads(request, call))
        case ItemsListReq():
            return chatkit_json(await _list_items(request, call))
        case ThreadsUpdateReq():
            return chatkit_json(await _update_thread(request, call))
        case ThreadsDeleteReq():
            await call.state["history"].delete_thread(
                call.user.id, request.params.thread_id
            )
            return b"{}"
        case _:
            assert_never(request)


async def _side_op(request: SideOp, call: Call) -> bytes:
    match request:
        case ItemsFeedbackReq():
            await _feedback(request.params, call)
            return b"{}"
        case AttachmentsCreateReq():
            return chatkit_json(await attachments.create(call, request.params))
        case AttachmentsDeleteReq():
            await attachments.delete(call, request.params.attachment_id)
            return b"{}"
        case InputTranscribeReq():
            return chatkit_json(await sync_jobs.transcribe(call, request.params))
        case ThreadsSyncCustomActionReq():
            return chatkit_json(await sync_jobs.sync_action(call, request.params))
        case _:
            assert_never(request)


async def _get_thread(request: ThreadsGetByIdReq, call: Call) -> Thread:
    thread_id = request.params.thread_id
    history = call.state["history"]
    record = await history.get_thread(call.user.id, thread_id)
    # The SDK shows the OLDEST page (asc), unlike items.list's newest-first default.
    items = await history.list_items(
        call.user.id, thread_id, limit=DEFAULT_PAGE_SIZE, order="asc"
    )
    page = _items_page(items, call)
    if record.active_run_id is not None and not page.has_more:
        # A reloaded page shows the answer so far, after the stored items.
        stored = {item.id for item in page.data}
        partial = await active_run_items(call.state["redis"], record.active_run_id)
        page.data += [item for item in partial if item.id not in stored]
    return thread_response(stored_thread(record), page)


async def _list_threads(request: ThreadsListReq, call: Call) -> Page[Thread]:
    params = request.params
    page = await call.state["history"].list_threads(
        call.user.id,
        limit=page_size(params.limit),
        after=params.after,
        order=params.order,
        sort="created_at",
    )
    return Page[Thread](
        data=[thread_response(stored_thread(record)) for record in page.data],
        has_more=page.has_more,
        after=page.after,
    )


async def _list_items(request: ItemsListReq, call: Call) -> Page[ThreadItem]:
    params = request.params
    page = await call.state["history"].list_items(
        call.user.id,
        params.thread_id,
        limit=page_size(params.limit),
        after=params.after,
        order=params.order,
    )
    items = _items_page(page, call)
    # Filtered after paging, as the SDK does: a page may hold fewer than `limit`.
    items.data = [item for item in items.data if not is_hidden(item)]
    return items


async def _update_thread(request: ThreadsUpdateReq, call: Call) -> Thread:
    history = call.state["history"]
    record = await history.get_thread(call.user.id, request.params.thread_id)
    thread = record.thread.model_copy(update={"title": request.params.title})
    await history.save_thread(call.user.id, thread)
    shown = record.model_copy(update={"thread": thread})
    return thread_response(stored_thread(shown))


async def _feedback(params: ItemFeedbackParams, call: Call) -> None:
    ids = params.item_ids
    if not 1 <= len(ids) <= MAX_FEEDBACK_ITEMS:
        raise ApiError(
            422,
            "invalid_request",
            f"items.feedback: params.item_ids: 1 to {MAX_FEEDBACK_ITEMS} ids",
        )
    if not all(_ID_RE.match(item_id) for item_id in ids):
        raise ApiError(
            422, "invalid_request", "items.feedback: params.item_ids: not a valid id"
        )
    feedback = FeedbackWrite(item_ids=ids, kind=params.kind)
    await call.state["history"].save_feedback(call.user.id, params.thread_id, feedback)
