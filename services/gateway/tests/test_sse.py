import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ErrorEvent,
    HiddenContextItem,
    ImageAttachment,
    InferenceOptions,
    Page,
    StreamOptions,
    StreamOptionsEvent,
    Thread,
    ThreadCreatedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import AnyUrl

from gateway.sse import (
    KEEPALIVE_FRAME,
    Resume,
    chatkit_frames,
    event_frame,
    sse_response,
)
from gateway.subscription import RelayDropped, Subscription
from shared.events import RunEnded, RunEvent, RunStatus
from testkit.chatkit_sse import parse_sse, validate_chatkit_frames

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

SAMPLE_EVENTS: list[ThreadStreamEvent] = [
    ThreadCreatedEvent(
        thread=Thread(
            id="thr_1",
            created_at=NOW,
            items=Page(),
            metadata={"private": "never sent"},
        )
    ),
    ThreadItemDoneEvent(
        item=UserMessageItem(
            id="msg_1",
            thread_id="thr_1",
            created_at=NOW,
            content=[UserMessageTextContent(text='Hi \u00e9\u2603 "quoted"\n')],
            attachments=[
                ImageAttachment(
                    id="atc_1",
                    name="cat.png",
                    mime_type="image/png",
                    preview_url=AnyUrl("https://files.example/atc_1"),
                    metadata={"bucket": "internal"},
                )
            ],
            inference_options=InferenceOptions(),
        )
    ),
    StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True)),
    ThreadItemUpdatedEvent(
        item_id="msg_2",
        update=AssistantMessageContentPartTextDelta(content_index=0, delta="Hel"),
    ),
    ThreadItemDoneEvent(
        item=AssistantMessageItem(
            id="msg_2",
            thread_id="thr_1",
            created_at=NOW,
            content=[AssistantMessageContent(text="Hello")],
        )
    ),
    ErrorEvent(code="stream.error", allow_retry=True),
]


@pytest.mark.parametrize("event", SAMPLE_EVENTS, ids=lambda e: e.type)
def test_event_frame_is_byte_identical_to_the_sdk_frame(
    event: ThreadStreamEvent,
) -> None:
    # Imported here: chatkit.server pulls in the Agents SDK (seconds of import).
    from chatkit.server import ChatKitServer

    sdk_json: bytes = ChatKitServer._serialize(None, event)  # type: ignore[arg-type]
    assert event_frame(event) == b"data: " + sdk_json + b"\n\n"


def test_frames_leave_out_attachment_metadata_and_none_fields() -> None:
    user_item = event_frame(SAMPLE_EVENTS[1])
    assert b"internal" not in user_item
    assert b"null" not in user_item


async def test_relayed_events_hide_thread_metadata_and_hidden_items() -> None:
    hidden = HiddenContextItem(
        id="hc_1", thread_id="thr_1", created_at=NOW, content="secret context"
    )
    sub = Subscription("run_1", limit=10)
    for seq, event in enumerate(
        [SAMPLE_EVENTS[0], ThreadItemDoneEvent(item=hidden), SAMPLE_EVENTS[2]], 1
    ):
        sub.offer(RunEvent(run_id="run_1", seq=seq, event=event))
    sub.offer(_ended(4))
    body = await _collect(chatkit_frames([], sub, keepalive_s=5))
    events = validate_chatkit_frames(parse_sse(body.decode()))
    assert [e.type for e in events] == ["thread.created", "stream_options"]
    assert b"never sent" not in body
    assert b'"metadata":{}' in body


def _delta(seq: int, text: str = "x") -> RunEvent:
    update = AssistantMessageContentPartTextDelta(content_index=0, delta=text)
    event = ThreadItemUpdatedEvent(item_id="msg_2", update=update)
    return RunEvent(run_id="run_1", seq=seq, event=event)


def _ended(seq: int, status: RunStatus = "completed") -> RunEnded:
    return RunEnded(run_id="run_1", seq=seq, status=status)


async def _collect(frames: AsyncIterator[bytes]) -> bytes:
    return b"".join([frame async for frame in frames])


async def test_opening_events_come_first_then_run_events_until_run_end() -> None:
    sub = Subscription("run_1", limit=10)
    for message in (_delta(1, "Hi"), _delta(2, "!"), _ended(3)):
        assert sub.offer(message)
    opening = SAMPLE_EVENTS[1:3]
    body = await _collect(chatkit_frames(opening, sub, keepalive_s=5))
    expected = [*opening, _delta(1, "Hi").event, _delta(2, "!").event]
    assert body == b"".join(event_frame(event) for event in expected)
    assert len(validate_chatkit_frames(parse_sse(body.decode()))) == len(expected)
    assert sub.closed


async def test_keepalive_comment_is_sent_while_the_run_is_quiet() -> None:
    sub = Subscription("run_1", limit=10)
    frames: list[bytes] = []
    async for frame in chatkit_frames([], sub, keepalive_s=0.02):
        frames.append(frame)
        if frames.count(KEEPALIVE_FRAME) == 2:
            sub.offer(_delta(1))
        if len(frames) == 3:
            sub.offer(_ended(2))
    assert frames[:2] == [b": keepalive\n\n", b": keepalive\n\n"]
    assert frames[2] == event_frame(_delta(1).event)
    assert len(frames) == 3


async def test_no_keepalive_while_events_keep_coming() -> None:
    sub = Subscription("run_1", limit=100)

    async def publish() -> None:
        for seq in range(1, 11):
            sub.offer(_delta(seq))
            await asyncio.sleep(0.01)
        sub.offer(_ended(11))

    task = asyncio.create_task(publish())
    body = await _collect(chatkit_frames([], sub, keepalive_s=0.2))
    await task
    assert KEEPALIVE_FRAME not in body
    assert len(validate_chatkit_frames(parse_sse(body.decode()))) == 10


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([_ended(1, "failed")], [("stream.error", True)]),
        (
            [
                RunEvent(
                    run_id="run_1",
                    seq=1,
                    event=ErrorEvent(code="custom", message="Quota", allow_retry=False),
                ),
                _ended(2, "failed"),
            ],
            [("custom", False)],
        ),
        ([_ended(1, "cancelled")], []),
    ],
)
async def test_failed_run_shows_exactly_one_error_event(
    messages: list[RunEvent | RunEnded], expected: list[tuple[str, bool]]
) -> None:
    sub = Subscription("run_1", limit=10)
    for message in messages:
        sub.offer(message)
    body = await _collect(chatkit_frames([], sub, keepalive_s=5))
    events = validate_chatkit_frames(parse_sse(body.decode()))
    assert [(e.code, e.allow_retry) for e in events if isinstance(e, ErrorEvent)] == (
        expected
    )


async def test_dropped_subscription_ends_the_stream_with_a_no_retry_error() -> None:
    sub = Subscription("run_1", limit=10)
    sub.offer(_delta(1))
    sub.drop("overflow")
    body = await _collect(chatkit_frames([], sub, keepalive_s=5))
    events = validate_chatkit_frames(parse_sse(body.decode()))
    assert events[0] == _delta(1).event
    assert isinstance(events[1], ErrorEvent)
    assert (events[1].code, events[1].allow_retry) == ("custom", False)
    assert len(events) == 2


async def test_client_going_away_closes_the_subscription() -> None:
    closed: list[Subscription] = []
    sub = Subscription("run_1", limit=10, on_close=closed.append)
    stream = chatkit_frames(SAMPLE_EVENTS[:1], sub, keepalive_s=5)
    await anext(stream)

    async def next_frame() -> bytes:
        return await anext(stream)

    waiting = asyncio.create_task(next_frame())
    await asyncio.sleep(0.02)
    waiting.cancel()  # what Starlette does when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert closed == [sub]


def test_sse_response_has_the_streaming_headers() -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    response = sse_response(nothing(), {"X-Thread-Id": "thr_1"})
    assert response.media_type == "text/event-stream"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-thread-id"] == "thr_1"


async def test_resume_replays_then_skips_live_copies_of_what_it_already_sent() -> None:
    sub = Subscription("run_1", limit=10)
    # Subscribed before the log was read: the live queue overlaps the replay.
    for message in (_delta(2), _delta(3), _delta(4), _ended(5)):
        sub.offer(message)
    resume = Resume(replay=[_delta(2), _delta(3)], after=1)
    body = await _collect(chatkit_frames([], sub, keepalive_s=5, resume=resume))
    expected = [_delta(seq).event for seq in (2, 3, 4)]
    assert body == b"".join(event_frame(event) for event in expected)


async def test_frames_with_ids_carry_their_sequence_and_end_with_a_bare_id() -> None:
    sub = Subscription("run_1", limit=10)
    for message in (_delta(1, "a"), _delta(2, "b"), _ended(3)):
        sub.offer(message)
    body = await _collect(chatkit_frames([], sub, keepalive_s=5, ids=True))
    sse = parse_sse(body.decode())
    assert [frame.id for frame in sse.frames] == ["1", "2"]
    assert body.endswith(b"id: 3\n\n")
    assert len(validate_chatkit_frames(sse)) == 2


async def test_redis_lost_ends_the_stream_with_a_retryable_error() -> None:
    sub = Subscription("run_1", limit=10)
    sub.offer(_delta(1))
    sub.drop("redis_lost")
    body = await _collect(chatkit_frames([], sub, keepalive_s=5))
    events = validate_chatkit_frames(parse_sse(body.decode()))
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].allow_retry
    assert len(events) == 2


async def test_a_quiet_check_can_end_the_stream_with_what_it_found() -> None:
    sub = Subscription("run_1", limit=10)
    checked: list[int] = []

    async def check(sent: int) -> list[RunEvent | RunEnded]:
        checked.append(sent)
        return [_delta(1), _delta(2), _ended(3, "failed")] if len(checked) > 1 else []

    sub.offer(_delta(1))
    body = await _collect(chatkit_frames([], sub, keepalive_s=0.02, on_quiet=check))
    assert checked == [1, 1]
    events = validate_chatkit_frames(parse_sse(body.decode()))
    assert [e.type for e in events] == ["thread.item.updated"] * 2 + ["error"]
    assert sub.closed


async def test_events_queued_together_reach_the_client_in_one_write() -> None:
    sub = Subscription("run_1", limit=10)
    stream = chatkit_frames([], sub, keepalive_s=5)
    sub.offer(_delta(1, "a"))
    first = await anext(stream)
    for seq, text in ((2, "b"), (3, "c"), (4, "d")):
        sub.offer(_delta(seq, text))
    second = await anext(stream)
    sub.offer(_ended(5))
    assert [chunk async for chunk in stream] == []
    assert first == event_frame(_delta(1, "a").event)
    assert second == b"".join(
        event_frame(_delta(seq, text).event)
        for seq, text in ((2, "b"), (3, "c"), (4, "d"))
    )
    assert sub.closed


async def test_a_keepalive_follows_each_quiet_interval_after_the_last_event() -> None:
    sub = Subscription("run_1", limit=10)
    frames: list[bytes] = []
    async for frame in chatkit_frames([], sub, keepalive_s=0.05):
        frames.append(frame)
        if len(frames) == 1:
            sub.offer(_delta(1))
        elif frames[-1] == KEEPALIVE_FRAME and frames.count(KEEPALIVE_FRAME) == 3:
            sub.offer(_ended(2))
    assert frames[0] == KEEPALIVE_FRAME
    assert frames[1] == event_frame(_delta(1).event)
    assert frames[2:] == [KEEPALIVE_FRAME, KEEPALIVE_FRAME]


async def test_waiting_subscription_wakes_on_an_offer_and_on_a_drop() -> None:
    sub = Subscription("run_1", limit=10)
    waiting = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    sub.offer(_delta(1))
    assert await waiting
    assert sub.drain() == [_delta(1)]
    waiting = asyncio.create_task(sub.wait(5))
    await asyncio.sleep(0)
    sub.drop("shutdown")
    assert await waiting
    assert sub.closed
    assert sub.drain() == [RelayDropped("shutdown")]
    assert not await sub.wait(0.01)  # nothing more: only the quiet interval ends it
