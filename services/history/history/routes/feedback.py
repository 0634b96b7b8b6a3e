"""``/v1/threads/{thread_id}/feedback``: the user's verdict on items of a thread."""

from fastapi import APIRouter, Response

from history.deps import IdPath, PoolDep, UserId
from history.store import feedback
from shared.history_api import FeedbackWrite

router = APIRouter(prefix="/threads/{thread_id}/feedback", tags=["feedback"])


@router.put("", status_code=204)
async def save_feedback(
    thread_id: IdPath, body: FeedbackWrite, user_id: UserId, pool: PoolDep
) -> Response:
    """Record the verdict on every item (last wins); 404 if one is not the thread's."""
    await feedback.save_feedback(pool, user_id, thread_id, body)
    return Response(status_code=204)
