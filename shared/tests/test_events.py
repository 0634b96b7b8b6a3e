from datetime import UTC, datetime

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ErrorEvent,
    ProgressUpdateEvent,
    StreamOptions,
    StreamOptionsEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from shared.events import (
    RUN_MESSAGE_ADAPTER,
    RunEnded,
    RunEvent,
    ToolActivity,
    dump_run_message,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

EVENTS: list[ThreadStreamEvent] = [
    StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True)),
    ThreadItemUpdatedEvent(
        item_id="msg_1",
        update=AssistantMessageContentPartTextDelta(content_index=0, delta="Hi"),
    ),
    ThreadItemDoneEvent(
        item=AssistantMessageItem(
            id="msg_1",
            thread_id="thr_1",
            created_at=NOW,
            content=[AssistantMessageContent(text="Hi")],
        )
    ),
    ProgressUpdateEvent(text="Working"),
    ErrorEvent(allow_retry=True),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_run_event_round_trips_every_chatkit_event_unchanged(
    event: ThreadStreamEvent,
) -> None:
    message = RunEvent(run_id="run_1", seq=3, event=event)
    parsed = RUN_MESSAGE_ADAPTER.validate_json(dump_run_message(message))
    assert isinstance(parsed, RunEvent)
    assert parsed.event == event
    assert parsed.seq == 3


def test_run_ended_is_told_apart_from_events_by_kind() -> None:
    parsed = RUN_MESSAGE_ADAPTER.validate_json(
        dump_run_message(RunEnded(run_id="run_1", seq=9, status="failed"))
    )
    assert isinstance(parsed, RunEnded)
    assert parsed.status == "failed"


def test_tool_activity_travels_with_its_event() -> None:
    tool = ToolActivity(phase="call", call_id="c1", name="add_task", arguments="{}")
    message = RunEvent(run_id="run_1", seq=1, event=EVENTS[0], tool=tool)
    parsed = RUN_MESSAGE_ADAPTER.validate_json(dump_run_message(message))
    assert isinstance(parsed, RunEvent)
    assert parsed.tool == tool


def test_serialization_leaves_out_none_fields_like_the_sdk() -> None:
    raw = dump_run_message(RunEvent(run_id="r", seq=1, event=ErrorEvent()))
    assert b'"message"' not in raw
    assert b'"tool"' not in raw
