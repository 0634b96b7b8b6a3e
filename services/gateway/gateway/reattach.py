"""The opening frames of a stream that re-attaches to an existing run.

A retried request (same ``Idempotency-Key``) gets the first request's run
back. Its opening frames are rebuilt from what history stored, as the first
stream sent them: ``thread.created`` for a run that created its thread, the
user item if the run has one, then ``stream_options``. The run's own events
follow from its log, from the first one.
"""

from chatkit.types import (
    Page,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    ThreadStreamEvent,
)

from gateway.call import Call
from gateway.views import stream_options, thread_response
from shared.history_api import RunRecord


async def opening(call: Call, run: RunRecord) -> list[ThreadStreamEvent]:
    """The frames the run's first stream opened with, from stored data."""
    history = call.state["history"]
    events: list[ThreadStreamEvent] = []
    if run.kind == "create":
        record = await history.get_thread(call.user.id, run.thread_id)
        events.append(ThreadCreatedEvent(thread=thread_response(record.thread, Page())))
    if run.user_item_id is not None:
        stored = await history.get_item(call.user.id, run.thread_id, run.user_item_id)
        events.append(ThreadItemDoneEvent(item=call.links.fresh_item(stored.item)))
    events.append(stream_options())
    return events
