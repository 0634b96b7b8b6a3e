from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import count
from typing import Literal

import pytest
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientEffectEvent,
    CustomTask,
    ErrorEvent,
    GeneratedImage,
    GeneratedImageUpdated,
    NoticeEvent,
    Page,
    ProgressUpdateEvent,
    StreamOptions,
    StreamOptionsEvent,
    ThoughtTask,
    Thread,
    ThreadCreatedEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdate,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    ThreadUpdatedEvent,
    URLSource,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from pydantic import BaseModel

from gateway.simple_format import (
    DONE_FRAME,
    SimpleMapper,
    simple_frame,
    simple_frames,
    tool_args,
)
from gateway.sse import Resume
from gateway.subscription import Subscription
from shared.events import RunEnded, RunEvent, RunStatus, ToolActivity
from testkit.chatkit_sse import (
    SimpleError,
    SimpleEvent,
    SimpleText,
    SimpleThinking,
    SimpleThread,
    SimpleToolCall,
    SimpleToolResult,
    parse_sse,
    validate_simple_frames,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
THREAD = Thread(id="thr_1", created_at=NOW, items=Page())
MSG = "msg_1"
WF = "wf_1"
_seq = count(1)


def _message(text: str = "") -> AssistantMessageItem:
    content = [AssistantMessageContent(text=text)] if text else []
    return AssistantMessageItem(
        id=MSG, thread_id="thr_1", created_at=NOW, content=content
    )


def _workflow(
    *tasks: ThoughtTask | CustomTask,
    kind: Literal["custom", "reasoning"] = "reasoning",
) -> WorkflowItem:
    workflow = Workflow(type=kind, tasks=list(tasks))
    return WorkflowItem(id=WF, thread_id="thr_1", created_at=NOW, workflow=workflow)


def _updated(update: ThreadItemUpdate, item_id: str = MSG) -> ThreadItemUpdatedEvent:
    return ThreadItemUpdatedEvent(item_id=item_id, update=update)


def _run_event(event: ThreadStreamEvent, tool: ToolActivity | None = None) -> RunEvent:
    return RunEvent(run_id="run_1", seq=next(_seq), event=event, tool=tool)


def _client_view(events: Sequence[BaseModel]) -> list[SimpleEvent]:
    """Our simple events as a client parses them (testkit's own models)."""
    frames = b"".join(simple_frame(event) for event in events)
    parsed, done = validate_simple_frames(parse_sse(frames.decode()))
    assert not done
    return parsed


def _map(*events: ThreadStreamEvent) -> list[SimpleEvent]:
    """Map events in order through one mapper."""
    mapper = SimpleMapper()
    return _client_view([s for e in events for s in mapper.map(_run_event(e))])


SILENT_EVENTS: list[ThreadStreamEvent] = [
    ThreadCreatedEvent(thread=THREAD),
    ThreadUpdatedEvent(thread=THREAD.model_copy(update={"title": "Greeting"})),
    ThreadItemAddedEvent(item=_message()),
    ThreadItemRemovedEvent(item_id=MSG),
    StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True)),
    ProgressUpdateEvent(text="Working", icon="search"),
    ClientEffectEvent(name="highlight", data={"i": 1}),
    NoticeEvent(level="warning", message="Heads up"),
    _updated(
        AssistantMessageContentPartAdded(
            content_index=0, content=AssistantMessageContent(text="")
        )
    ),
    _updated(
        AssistantMessageContentPartAnnotationAdded(
            content_index=0,
            annotation_index=0,
            annotation=Annotation(source=URLSource(title="Ex", url="https://ex.com")),
        )
    ),
    _updated(
        GeneratedImageUpdated(image=GeneratedImage(id="ig_1", url="data:,"), progress=1)
    ),
    _updated(WorkflowTaskAdded(task_index=0, task=CustomTask(title="t")), WF),
    ThreadItemDoneEvent(item=_workflow(CustomTask(title="t"), kind="custom")),
]


@pytest.mark.parametrize("event", SILENT_EVENTS, ids=lambda e: e.type)
def test_events_without_a_simple_counterpart_map_to_nothing(
    event: ThreadStreamEvent,
) -> None:
    assert _map(event) == []


def test_text_deltas_map_to_text_events_in_order() -> None:
    deltas = [
        _updated(AssistantMessageContentPartTextDelta(content_index=0, delta=piece))
        for piece in ["Hel", "lo", "!"]
    ]
    events = _map(*deltas)
    assert [e for e in events if isinstance(e, SimpleText)] == events
    assert "".join(e.content for e in events if isinstance(e, SimpleText)) == "Hello!"


def test_final_content_and_done_item_do_not_repeat_streamed_text() -> None:
    done_part = AssistantMessageContentPartDone(
        content_index=0, content=AssistantMessageContent(text="Hello!")
    )
    events = _map(
        ThreadItemAddedEvent(item=_message()),
        _updated(AssistantMessageContentPartTextDelta(content_index=0, delta="Hello!")),
        _updated(done_part),
        ThreadItemDoneEvent(item=_message("Hello!")),
    )
    assert events == [SimpleText(type="text", content="Hello!")]


def test_answer_that_arrives_only_as_a_done_item_still_maps_to_text() -> None:
    events = _map(ThreadItemDoneEvent(item=_message("Whole answer.")))
    assert events == [SimpleText(type="text", content="Whole answer.")]


def test_replaced_item_sends_only_the_text_not_sent_before() -> None:
    events = _map(
        _updated(AssistantMessageContentPartTextDelta(content_index=0, delta="Hi")),
        ThreadItemReplacedEvent(item=_message("Hi there")),
    )
    assert [e.content for e in events if isinstance(e, SimpleText)] == ["Hi", " there"]


def test_reasoning_thoughts_map_to_thinking_without_repeats() -> None:
    thought = ThoughtTask(content="Thinking about greeting")
    longer = ThoughtTask(content="Thinking about greeting politely")
    events = _map(
        ThreadItemAddedEvent(item=_workflow()),
        _updated(WorkflowTaskAdded(task_index=0, task=thought), WF),
        _updated(WorkflowTaskUpdated(task_index=0, task=thought), WF),
        _updated(WorkflowTaskUpdated(task_index=0, task=longer), WF),
        ThreadItemDoneEvent(item=_workflow(longer)),
    )
    assert events == [
        SimpleThinking(type="thinking", content="Thinking about greeting"),
        SimpleThinking(type="thinking", content=" politely"),
    ]


def test_tool_activity_maps_to_tool_call_then_tool_result() -> None:
    mapper = SimpleMapper()
    loading = CustomTask(title="add_task", status_indicator="loading")
    call = _run_event(
        _updated(WorkflowTaskAdded(task_index=0, task=loading), WF),
        ToolActivity(
            phase="call", call_id="c1", name="add_task", arguments='{"title": "Milk"}'
        ),
    )
    complete = loading.model_copy(update={"status_indicator": "complete"})
    result = _run_event(
        _updated(WorkflowTaskUpdated(task_index=0, task=complete), WF),
        ToolActivity(phase="result", call_id="c1", name="add_task", result="added #1"),
    )
    assert _client_view(mapper.map(call)) == [
        SimpleToolCall(type="tool_call", name="add_task", args={"title": "Milk"})
    ]
    assert _client_view(mapper.map(result)) == [
        SimpleToolResult(type="tool_result", name="add_task", result="added #1")
    ]


@pytest.mark.parametrize(
    ("arguments", "args"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        ("  ", {}),
        ("[1, 2]", {"value": [1, 2]}),
        ("not json", {"raw": "not json"}),
    ],
)
def test_tool_arguments_always_become_an_object(
    arguments: str, args: dict[str, object]
) -> None:
    assert tool_args(arguments) == args


def test_error_event_maps_to_error_with_its_message_or_a_generic_one() -> None:
    custom = ErrorEvent(code="custom", message="Quota exceeded", allow_retry=False)
    generic = ErrorEvent(code="stream.error", allow_retry=True)
    events = _map(custom, generic)
    assert events[0] == SimpleError(type="error", message="Quota exceeded")
    assert isinstance(events[1], SimpleError)
    assert "try again" in events[1].message


async def _frames(
    *messages: RunEvent | RunEnded, keepalive_s: float = 5.0
) -> tuple[str, list[SimpleEvent], bool]:
    subscription = Subscription("run_1", limit=100)
    for message in messages:
        assert subscription.offer(message)
    body = b"".join(
        [frame async for frame in simple_frames("thr_1", subscription, keepalive_s)]
    )
    assert subscription.closed
    events, done = validate_simple_frames(parse_sse(body.decode()))
    return body.decode(), events, done


def _ended(seq: int, status: RunStatus = "completed") -> RunEnded:
    return RunEnded(run_id="run_1", seq=seq, status=status)


async def test_stream_starts_with_thread_and_ends_with_done_after_run_end() -> None:
    delta = _updated(AssistantMessageContentPartTextDelta(content_index=0, delta="Hi"))
    body, events, done = await _frames(
        RunEvent(run_id="run_1", seq=1, event=delta), _ended(2)
    )
    assert events == [
        SimpleThread(type="thread", thread_id="thr_1"),
        SimpleText(type="text", content="Hi"),
    ]
    assert done
    assert body.endswith(DONE_FRAME.decode())


async def test_failed_run_without_error_event_still_tells_the_client() -> None:
    _, events, done = await _frames(_ended(1, "failed"))
    assert [e.type for e in events] == ["thread", "error"]
    assert done


async def test_failed_run_with_its_own_error_event_has_exactly_one_error() -> None:
    error = ErrorEvent(code="stream.error", allow_retry=True)
    _, events, done = await _frames(
        RunEvent(run_id="run_1", seq=1, event=error), _ended(2, "failed")
    )
    assert [e.type for e in events] == ["thread", "error"]
    assert done


async def test_dropped_subscription_ends_with_an_error_then_done() -> None:
    subscription = Subscription("run_1", limit=100)
    subscription.drop("overflow")
    frames = [frame async for frame in simple_frames("thr_1", subscription, 5.0)]
    events, done = validate_simple_frames(parse_sse(b"".join(frames).decode()))
    assert [e.type for e in events] == ["thread", "error"]
    assert done


async def test_quiet_run_gets_keepalive_comments_in_the_simple_format_too() -> None:
    subscription = Subscription("run_1", limit=100)
    frames: list[bytes] = []
    async for frame in simple_frames("thr_1", subscription, keepalive_s=0.01):
        frames.append(frame)
        if len(frames) == 3:
            assert subscription.offer(_ended(1))
    sse = parse_sse(b"".join(frames).decode())
    assert sse.comments[:2] == ["keepalive", "keepalive"]
    assert sse.frames[-1].data == "[DONE]"


async def test_redis_lost_ends_the_simple_stream_with_an_error_then_done() -> None:
    subscription = Subscription("run_1", limit=100)
    subscription.drop("redis_lost")
    frames = [frame async for frame in simple_frames("thr_1", subscription, 5.0)]
    events, done = validate_simple_frames(parse_sse(b"".join(frames).decode()))
    assert [e.type for e in events] == ["thread", "error"]
    assert done


async def test_each_relayed_event_ids_its_last_frame_and_done_carries_the_end() -> None:
    tool = ToolActivity(phase="call", call_id="c1", name="add", arguments="{}")
    delta = _updated(AssistantMessageContentPartTextDelta(content_index=0, delta="x"))
    subscription = Subscription("run_1", limit=100)
    for message in (
        RunEvent(run_id="run_1", seq=1, event=delta, tool=tool),
        RunEvent(run_id="run_1", seq=2, event=ProgressUpdateEvent(text="hm")),
        _ended(3),
    ):
        subscription.offer(message)
    frames = simple_frames("thr_1", subscription, 5.0, run_id="run_1")
    sse = parse_sse(b"".join([frame async for frame in frames]).decode())
    events, done = validate_simple_frames(sse)
    assert done
    assert [(e.type, f.id) for e, f in zip(events, sse.frames, strict=False)] == [
        ("thread", None),
        ("tool_call", None),
        ("text", "1"),
    ]
    assert (sse.frames[-1].data, sse.frames[-1].id) == ("[DONE]", "3")


async def test_a_primed_mapper_sends_only_what_the_client_has_not_seen() -> None:
    added = _updated(AssistantMessageContentPartTextDelta(content_index=0, delta="Hel"))
    more = _updated(AssistantMessageContentPartTextDelta(content_index=0, delta="lo"))
    seen = [RunEvent(run_id="run_1", seq=1, event=added)]
    mapper = SimpleMapper()
    mapper.prime(seen)
    subscription = Subscription("run_1", limit=100)
    subscription.offer(RunEvent(run_id="run_1", seq=2, event=more))
    subscription.offer(
        RunEvent(
            run_id="run_1", seq=3, event=ThreadItemDoneEvent(item=_message("Hello"))
        )
    )
    subscription.offer(_ended(4))
    frames = simple_frames(
        "thr_1", subscription, 5.0, resume=Resume(after=1), mapper=mapper
    )
    sse = parse_sse(b"".join([frame async for frame in frames]).decode())
    events, _ = validate_simple_frames(sse)
    assert [e for e in events if isinstance(e, SimpleText)] == [
        SimpleText(type="text", content="lo")
    ]
