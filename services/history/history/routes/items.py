"""``/v1/threads/{thread_id}/items``: the items of one of the user's threads."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from history.deps import IdPath, PoolDep, UserId, check_id
from history.errors import ApiError
from history.store import items
from shared.history_api import ItemPage, ItemRecord, ItemWrite, Order

router = APIRouter(prefix="/threads/{thread_id}/items", tags=["items"])

# Larger than the thread page: a worker reads whole histories for model input.
MAX_ITEM_PAGE = 1000


@router.get("")
async def list_items(
    thread_id: IdPath,
    user_id: UserId,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=MAX_ITEM_PAGE)] = 20,
    after: Annotated[str | None, Query(max_length=200)] = None,
    order: Order = "asc",
) -> ItemPage:
    """A page of items, hidden ones included; ``after`` is an exclusive item id."""
    return await items.list_items(
        pool, user_id, thread_id, limit=limit, after=after, order=order
    )


@router.post("", status_code=204)
async def add_item(
    thread_id: IdPath, body: ItemWrite, user_id: UserId, pool: PoolDep
) -> Response:
    """Insert an item; 409 if its id exists."""
    check_id(body.item.id, "item.id")
    await items.insert_item(pool, user_id, thread_id, body)
    return Response(status_code=204)


@router.put("/{item_id}", status_code=204)
async def save_item(
    thread_id: IdPath, item_id: IdPath, body: ItemWrite, user_id: UserId, pool: PoolDep
) -> Response:
    """Insert or overwrite an item by id."""
    if body.item.id != item_id:
        raise ApiError(422, "id_mismatch", "item.id differs from the path")
    await items.upsert_item(pool, user_id, thread_id, body)
    return Response(status_code=204)


@router.get("/{item_id}")
async def get_item(
    thread_id: IdPath, item_id: IdPath, user_id: UserId, pool: PoolDep
) -> ItemRecord:
    """One item of the thread."""
    return await items.get_item(pool, user_id, thread_id, item_id)


@router.delete("/{item_id}", status_code=204)
async def delete_item(
    thread_id: IdPath, item_id: IdPath, user_id: UserId, pool: PoolDep
) -> Response:
    """Delete one item of the thread."""
    await items.delete_item(pool, user_id, thread_id, item_id)
    return Response(status_code=204)
