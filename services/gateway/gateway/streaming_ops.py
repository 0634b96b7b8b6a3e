"""The six streaming ops: check the input, plan the run, open it, name the first frames.

Each op is checked against history before anything is stored (a 4xx JSON
error otherwise), then ``runs.open_run`` stores the op's edits with the run in
one commit and enqueues it. The opening frames are the SDK's: ``thread.created``
and the user item for new messages, then ``stream_options``, then (structured
input only) the replaced item; everything after comes from the worker.

A request whose ``Idempotency-Key`` history has seen re-attaches instead: the
key is looked up before the op is checked (the first request's edits would
fail a follow-up op's check), the first request's run comes back
(``StartedRun.reused``) and the opening frames are rebuilt from what is stored
(``reattach``). Two first requests racing with one key meet in ``open_run``.
"""

from typing import assert_never

from chatkit.types import (
    ClientToolCallItem,
    Page,
    StreamingReq,
    StructuredInputItem,
    ThreadAddClientToolOutputParams,
    ThreadAddStructuredInputParams,
    ThreadCreatedEvent,
    ThreadCustomActionParams,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadRetryAfterItemParams,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadStreamEvent,
    UserMessageInput,
    UserMessageItem,
    WidgetItem,
)

from gateway import attachments, reattach
from gateway.call import Call
from gateway.errors import ApiError
from gateway.runs import (
    RunPlan,
    StartedRun,
    ThreadBusyError,
    message_plan,
    open_run,
    run_for_key,
)
from gateway.structured_input import apply_submission
from gateway.views import stream_options, thread_response
from shared.history_client import HistoryNotFound
from shared.jobs import CustomActionOp

STATE_ERRORS = frozenset({409, 422})
"""A follow-up op refused for its item's state: on a busy thread, "busy" is the
better answer."""
PENDING_TOOL_CALL_WINDOW = 20
"""The SDK drops dangling pending client tool calls among this many newest items."""

Opening = tuple[StartedRun, list[ThreadStreamEvent]]


class _Reused(Exception):
    """history returned an earlier request's run: its opening is rebuilt instead."""

    def __init__(self, started: StartedRun) -> None:
        super().__init__(started.run_id)
        self.started = started


async def start(call: Call, req: StreamingReq) -> Opening:
    """Open the op's run; its opening frames (``ThreadBusyError`` if busy)."""
    key = call.idempotency_key
    if key is not None and (earlier := await run_for_key(call.state, call.user, key)):
        return await _reattach(call, earlier)
    try:
        return await _start(call, req)
    except _Reused as reused:
        return await _reattach(call, reused.started)
    except ApiError as refused:
        if isinstance(req, ThreadsCreateReq | ThreadsAddUserMessageReq):
            raise
        thread_id = req.params.thread_id
        # The item may just not be in place yet: a run is still adding items.
        if refused.status in STATE_ERRORS and await _has_active_run(call, thread_id):
            raise ThreadBusyError(thread_id) from None
        raise


async def _reattach(call: Call, started: StartedRun) -> Opening:
    try:
        return started, await reattach.opening(call, started.run)
    except BaseException:
        started.subscription.close()
        raise


async def _has_active_run(call: Call, thread_id: str) -> bool:
    record = await call.state["history"].get_thread(call.user.id, thread_id)
    return record.active_run_id is not None


async def _start(call: Call, req: StreamingReq) -> Opening:
    match req:
        case ThreadsCreateReq():
            return await _new_message(call, None, req.params.input)
        case ThreadsAddUserMessageReq():
            return await _new_message(call, req.params.thread_id, req.params.input)
        case ThreadsAddClientToolOutputReq():
            return await _client_tool_output(call, req.params)
        case ThreadsAddStructuredInputReq():
            return await _structured_input(call, req.params)
        case ThreadsRetryAfterItemReq():
            return await _retry(call, req.params)
        case ThreadsCustomActionReq():
            return await _custom_action(call, req.params)
        case _:
            assert_never(req)


async def _open(call: Call, plan: RunPlan) -> StartedRun:
    started = await open_run(
        call.state, call.user, plan, call.request_id, call.idempotency_key
    )
    if started.reused:
        raise _Reused(started)  # the op's own opening would describe a new run
    return started


async def _new_message(
    call: Call, thread_id: str | None, user_input: UserMessageInput
) -> Opening:
    attached = await attachments.for_message(call, user_input.attachments)
    plan = message_plan(thread_id, user_input, attached)
    started = await _open(call, plan)
    events: list[ThreadStreamEvent] = []
    if started.new_thread is not None:
        thread = thread_response(started.new_thread, Page())
        events.append(ThreadCreatedEvent(thread=thread))
    item = started.user_item
    assert item is not None  # a message plan always carries its user item
    if item.attachments:
        await attachments.save_thread_ids(call, item.attachments)
    events += [ThreadItemDoneEvent(item=item), stream_options()]
    return started, events


async def item_of(call: Call, thread_id: str, item_id: str) -> ThreadItem:
    """One item of the caller's thread, or a 404 naming it."""
    try:
        record = await call.state["history"].get_item(call.user.id, thread_id, item_id)
    except HistoryNotFound:
        raise ApiError(
            404, "not_found", f"item {item_id} not found in thread {thread_id}"
        ) from None
    return record.item


async def widget_sender(call: Call, thread_id: str, item_id: str) -> WidgetItem:
    """The widget item an action came from (404 if missing, 422 if no widget)."""
    item = await item_of(call, thread_id, item_id)
    if not isinstance(item, WidgetItem):
        # Deliberate difference: the SDK streams an error event instead.
        raise ApiError(
            422, "not_a_widget", f"item {item_id} is a {item.type}, not a widget"
        )
    return item


async def _client_tool_output(
    call: Call, params: ThreadAddClientToolOutputParams
) -> Opening:
    page = await call.state["history"].list_items(
        call.user.id, params.thread_id, limit=PENDING_TOOL_CALL_WINDOW, order="desc"
    )
    newest = page.data[0].item if page.data else None
    if not isinstance(newest, ClientToolCallItem) or newest.status != "pending":
        raise ApiError(
            409,
            "no_pending_client_tool_call",
            f"the newest item of thread {params.thread_id} is not a pending "
            "client tool call",
        )
    completed = newest.model_copy(
        update={"output": params.result, "status": "completed"}
    )
    dangling = [
        record.item.id
        for record in page.data[1:]
        if isinstance(record.item, ClientToolCallItem)
        and record.item.status == "pending"
    ]
    plan = RunPlan(
        thread_id=params.thread_id,
        save_items=[completed],
        delete_item_ids=dangling,
        kind="client_tool_output",
    )
    return await _open(call, plan), [stream_options()]


async def _structured_input(
    call: Call, params: ThreadAddStructuredInputParams
) -> Opening:
    item = await item_of(call, params.thread_id, params.item_id)
    if not isinstance(item, StructuredInputItem) or item.status != "pending":
        raise ApiError(
            409,
            "no_pending_structured_input",
            f"item {params.item_id} is not a pending structured input",
        )
    updated = apply_submission(item, params.input)
    plan = RunPlan(
        thread_id=params.thread_id, save_items=[updated], kind="structured_input"
    )
    started = await _open(call, plan)
    return started, [stream_options(), ThreadItemReplacedEvent(item=updated)]


async def _retry(call: Call, params: ThreadRetryAfterItemParams) -> Opening:
    item = await item_of(call, params.thread_id, params.item_id)
    if not isinstance(item, UserMessageItem):
        # Deliberate difference: the SDK drops the connection instead.
        raise ApiError(
            422,
            "not_a_user_message",
            f"item {params.item_id} is a {item.type}; retry after a user message",
        )
    plan = RunPlan(
        thread_id=params.thread_id, truncate_after_item_id=item.id, kind="retry"
    )
    return await _open(call, plan), [stream_options()]


async def _custom_action(call: Call, params: ThreadCustomActionParams) -> Opening:
    if params.item_id is not None:
        await widget_sender(call, params.thread_id, params.item_id)
    op = CustomActionOp(item_id=params.item_id, action=params.action)
    plan = RunPlan(thread_id=params.thread_id, op=op, kind="custom_action")
    return await _open(call, plan), [stream_options()]
