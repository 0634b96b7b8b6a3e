"""translate.py: provider ids never reach items; times become UTC; own ids kept."""

from datetime import UTC, datetime

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomTask,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
)

from agent_worker.translate import Translator

FAKE_ID = "__fake_id__"
THREAD = "thr_test"
NAIVE_NOON = datetime(2026, 1, 2, 12, 0)  # noqa: DTZ001 - chatkit stamps naive times


def _message(item_id: str, text: str = "") -> AssistantMessageItem:
    content = [AssistantMessageContent(text=text)] if text else []
    return AssistantMessageItem(
        id=item_id, thread_id=THREAD, created_at=NAIVE_NOON, content=content
    )


def _message_events(item_id: str, text: str) -> list[ThreadStreamEvent]:
    delta = AssistantMessageContentPartTextDelta(content_index=0, delta=text)
    return [
        ThreadItemAddedEvent(item=_message(item_id)),
        ThreadItemUpdatedEvent(item_id=item_id, update=delta),
        ThreadItemDoneEvent(item=_message(item_id, text)),
    ]


def _ids(translator: Translator, events: list[ThreadStreamEvent]) -> list[str]:
    ids: list[str] = []
    for event in events:
        for outgoing in translator.translate(event):
            out = outgoing.event
            match out:
                case ThreadItemUpdatedEvent() | ThreadItemRemovedEvent():
                    ids.append(out.item_id)
                case ThreadItemAddedEvent() | ThreadItemDoneEvent():
                    ids.append(out.item.id)
    return ids


def test_each_fake_id_message_of_a_turn_gets_its_own_id_for_all_its_events() -> None:
    translator = Translator()
    first = _ids(translator, _message_events(FAKE_ID, "one"))
    second = _ids(translator, _message_events(FAKE_ID, "two"))

    assert len(set(first)) == 1
    assert len(set(second)) == 1
    assert first[0] != second[0]
    assert all(i.startswith("msg_") and len(i) == 36 for i in first + second)


def test_openai_message_id_is_replaced_consistently_from_added_to_done() -> None:
    ids = _ids(Translator(), _message_events("msg_provider123", "hi"))

    assert len(set(ids)) == 1
    assert ids[0] != "msg_provider123"


def test_workflow_items_keep_our_own_id_and_get_utc_times() -> None:
    workflow = WorkflowItem(
        id="wf_ours",
        thread_id=THREAD,
        created_at=NAIVE_NOON,
        workflow=Workflow(type="custom", tasks=[CustomTask(title="add_task")]),
    )
    (outgoing,) = Translator().translate(ThreadItemDoneEvent(item=workflow))

    assert isinstance(outgoing.event, ThreadItemDoneEvent)
    assert outgoing.event.item.id == "wf_ours"
    assert outgoing.event.item.created_at == NAIVE_NOON.astimezone(UTC)
    assert outgoing.event.item.created_at.tzinfo is UTC


def test_translated_item_is_a_copy_unaffected_by_later_changes() -> None:
    workflow = WorkflowItem(
        id="wf_live",
        thread_id=THREAD,
        created_at=NAIVE_NOON,
        workflow=Workflow(type="custom", tasks=[CustomTask(title="first")]),
    )
    (outgoing,) = Translator().translate(ThreadItemAddedEvent(item=workflow))
    workflow.workflow.tasks.append(CustomTask(title="second"))

    assert isinstance(outgoing.event, ThreadItemAddedEvent)
    assert isinstance(outgoing.event.item, WorkflowItem)
    assert len(outgoing.event.item.workflow.tasks) == 1


def test_removing_a_provider_id_removes_every_message_minted_for_it() -> None:
    translator = Translator()
    minted = set(_ids(translator, _message_events(FAKE_ID, "a")))
    minted |= set(_ids(translator, _message_events(FAKE_ID, "b")))

    removed = _ids(translator, [ThreadItemRemovedEvent(item_id=FAKE_ID)])

    assert set(removed) == minted
    assert len(removed) == 2


def test_done_without_added_still_gets_an_own_id() -> None:
    ids = _ids(Translator(), [ThreadItemDoneEvent(item=_message(FAKE_ID, "x"))])

    assert ids[0].startswith("msg_")
    assert ids[0] != FAKE_ID


def test_pending_client_tool_call_gets_an_own_id_and_keeps_the_call_id() -> None:
    call = ClientToolCallItem(
        id=FAKE_ID,
        thread_id=THREAD,
        created_at=NAIVE_NOON,
        call_id="call_provider",
        name="get_user_timezone",
        arguments={},
    )

    (outgoing,) = Translator().translate(ThreadItemDoneEvent(item=call))

    assert isinstance(outgoing.event, ThreadItemDoneEvent)
    item = outgoing.event.item
    assert isinstance(item, ClientToolCallItem)
    assert item.id.startswith("tc_")
    assert len(item.id) == 35
    assert item.call_id == "call_provider"
