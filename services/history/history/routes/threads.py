"""``/v1/threads``: save, list, get and delete the user's threads."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from history.deps import IdPath, PoolDep, UserId
from history.errors import ApiError
from history.store import threads
from shared.history_api import Order, ThreadPage, ThreadRecord, ThreadSort, ThreadWrite

router = APIRouter(prefix="/threads", tags=["threads"])

MAX_THREAD_PAGE = 100


@router.put("/{thread_id}", status_code=204)
async def save_thread(
    thread_id: IdPath, body: ThreadWrite, user_id: UserId, pool: PoolDep
) -> Response:
    """Create or overwrite a thread (ChatKit ``save_thread``)."""
    if body.thread.id != thread_id:
        raise ApiError(422, "id_mismatch", "thread.id differs from the path")
    await threads.save_thread(pool, user_id, body.thread)
    return Response(status_code=204)


@router.get("")
async def list_threads(
    user_id: UserId,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=MAX_THREAD_PAGE)] = 20,
    after: Annotated[str | None, Query(max_length=200)] = None,
    order: Order = "desc",
    sort: ThreadSort = "created_at",
) -> ThreadPage:
    """A page of the user's threads; ``after`` is an exclusive thread id cursor."""
    return await threads.list_threads(
        pool, user_id, limit=limit, after=after, order=order, sort=sort
    )


@router.get("/{thread_id}")
async def get_thread(thread_id: IdPath, user_id: UserId, pool: PoolDep) -> ThreadRecord:
    """One of the user's threads."""
    return await threads.get_thread(pool, user_id, thread_id)


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(thread_id: IdPath, user_id: UserId, pool: PoolDep) -> Response:
    """Delete a thread with its items and runs."""
    await threads.delete_thread(pool, user_id, thread_id)
    return Response(status_code=204)
