"""The answer so far: items of an active run folded from its log.

Unit tests of the fold, then ``threads.get_by_id`` on a thread whose run is
still writing (the test plays the worker, logging through ``shared.run_log``).
"""

from datetime import UTC, datetime

import httpx
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    CustomTask,
    HiddenContextItem,
    LockedStatus,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)

from gateway.partial_items import fold
from shared.events import RunEnded, RunEvent
from shared.ids import new_id
from testkit.chatkit_client import ChatKitClient
from testkit.tokens import jwt_for

from .flows import answer_item, create_body, live_turn, text_delta
from .worker_double import WorkerDouble

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _messages(*events: ThreadStreamEvent) -> list[RunEvent | RunEnded]:
    return [
        RunEvent(run_id="run_1", seq=seq, event=event)
        for seq, event in enumerate(events, 1)
    ]


def _message(item_id: str, *texts: str) -> AssistantMessageItem:
    content = [AssistantMessageContent(text=text) for text in texts]
    return AssistantMessageItem(
        id=item_id, thread_id="thr_1", created_at=NOW, content=content
    )


def _workflow(*tasks: CustomTask) -> WorkflowItem:
    return WorkflowItem(
        id="wf_1",
        thread_id="thr_1",
        created_at=NOW,
        workflow=Workflow(type="custom", tasks=list(tasks)),
    )


def _updated(item_id: str, update: object) -> ThreadItemUpdatedEvent:
    return ThreadItemUpdatedEvent.model_validate({"item_id": item_id, "update": update})


def test_text_deltas_of_an_added_message_are_applied_in_order() -> None:
    items = fold(
        _messages(
            ThreadItemAddedEvent(item=_message("msg_1")),
            text_delta("msg_1", "Hel"),
            text_delta("msg_1", "lo"),
        )
    )
    assert items == [_message("msg_1", "Hello")]


def test_content_parts_added_and_done_set_the_part_and_deltas_extend_it() -> None:
    part = AssistantMessageContent(text="Fir")
    items = fold(
        _messages(
            ThreadItemAddedEvent(item=_message("msg_1")),
            _updated(
                "msg_1", AssistantMessageContentPartAdded(content_index=0, content=part)
            ),
            text_delta("msg_1", "st"),
            _updated(
                "msg_1",
                AssistantMessageContentPartDone(
                    content_index=0, content=AssistantMessageContent(text="First")
                ),
            ),
            _updated(
                "msg_1",
                AssistantMessageContentPartTextDelta(content_index=1, delta="Second"),
            ),
        )
    )
    assert items == [_message("msg_1", "First", "Second")]


def test_workflow_tasks_are_added_then_updated() -> None:
    loading = CustomTask(title="search", status_indicator="loading")
    complete = CustomTask(title="search", status_indicator="complete", content="3")
    items = fold(
        _messages(
            ThreadItemAddedEvent(item=_workflow()),
            _updated("wf_1", WorkflowTaskAdded(task_index=0, task=loading)),
            _updated("wf_1", WorkflowTaskUpdated(task_index=0, task=complete)),
            _updated(
                "wf_1",
                WorkflowTaskAdded(task_index=1, task=CustomTask(title="fetch")),
            ),
        )
    )
    assert items == [_workflow(complete, CustomTask(title="fetch"))]


def test_done_removed_and_hidden_items_are_left_out_and_replaced_ones_swapped() -> None:
    hidden = HiddenContextItem(id="hc_1", thread_id="thr_1", created_at=NOW, content=1)
    items = fold(
        _messages(
            ThreadItemAddedEvent(item=_message("msg_done")),
            ThreadItemAddedEvent(item=_message("msg_gone")),
            ThreadItemAddedEvent(item=_message("msg_swap", "old")),
            ThreadItemAddedEvent(item=hidden),
            ThreadItemDoneEvent(item=_message("msg_done", "stored")),
            ThreadItemRemovedEvent(item_id="msg_gone"),
            ThreadItemReplacedEvent(item=_message("msg_swap", "new")),
            text_delta("msg_unknown", "ignored"),
        )
    )
    assert items == [_message("msg_swap", "new")]


async def test_thread_read_mid_answer_is_locked_and_shows_the_answer_so_far(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = new_id("req")
    client = ChatKitClient(http, jwt_for(user))
    async with live_turn(http, worker, user, create_body("long answer")) as live:
        job, thread_id = live.job, live.job.thread_id
        await worker.begin(job)
        first = answer_item(thread_id, "Step one.")
        partial = answer_item(thread_id, "", "msg_partial").model_copy(
            update={"content": []}
        )
        await worker.emit(
            job,
            [
                ThreadItemAddedEvent(item=first),
                ThreadItemDoneEvent(item=first),
                ThreadItemAddedEvent(item=partial),
                text_delta("msg_partial", "Step "),
                text_delta("msg_partial", "two"),
            ],
        )
        thread = await client.get_thread(thread_id)
        assert isinstance(thread.status, LockedStatus)
        assert [item.type for item in thread.items.data] == [
            "user_message",
            "assistant_message",
            "assistant_message",
        ]
        last = thread.items.data[-1]
        assert isinstance(last, AssistantMessageItem)
        assert (last.id, [part.text for part in last.content]) == (
            "msg_partial",
            ["Step two"],
        )
        await worker.emit(
            job,
            [
                ThreadItemDoneEvent(
                    item=answer_item(thread_id, "Step two", "msg_partial")
                )
            ],
        )
        await worker.finish(job, "completed")
        await live.rest()
    after = await client.get_thread(thread_id)
    assert after.status.type == "active"
    assert [item.id for item in after.items.data][1:] == [first.id, "msg_partial"]
