import json
from datetime import UTC, datetime

from chatkit.server import ChatKitServer
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    HiddenContextItem,
    ThreadItemDoneEvent,
    ThreadStreamEvent,
)

from gateway.live_event import LiveEvent, parse_batch, parse_live
from gateway.sse import relayed_frame
from shared.events import RunEnded, RunEvent, ToolActivity, dump_run_message
from shared.run_log import dump_batch


def _sdk_frame(event: ThreadStreamEvent) -> bytes:
    sdk_json: bytes = ChatKitServer._serialize(None, event)  # type: ignore[arg-type]
    return b"data: " + sdk_json + b"\n\n"


def _done(text: str) -> ThreadItemDoneEvent:
    item = AssistantMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        content=[AssistantMessageContent(text=text)],
    )
    return ThreadItemDoneEvent(item=item)


def _live(message: RunEvent) -> LiveEvent:
    parsed = parse_live(dump_run_message(message))
    assert isinstance(parsed, LiveEvent)
    return parsed


def test_a_live_event_is_framed_byte_for_byte_as_the_sdk_frames_it() -> None:
    tricky = 'quotes " ,"tool":{ and ,"event": ünïcode \\ \n end'
    tool = ToolActivity(phase="result", call_id="c1", name="t", result=tricky)
    for message in (
        RunEvent(run_id="run_1", seq=3, event=_done(tricky)),
        RunEvent(run_id="run_1", seq=4, event=_done(tricky), tool=tool),
    ):
        live = _live(message)
        assert relayed_frame(live) == _sdk_frame(message.event)
        assert live.message == message


def test_an_envelope_laid_out_differently_still_gives_the_sdk_bytes() -> None:
    message = RunEvent(run_id="run_1", seq=1, event=_done("hi"))
    spaced = json.dumps(json.loads(dump_run_message(message)), indent=1).encode()
    parsed = parse_live(spaced)
    assert isinstance(parsed, LiveEvent)
    assert relayed_frame(parsed) == _sdk_frame(message.event)


def test_a_hidden_item_is_not_relayed() -> None:
    item = HiddenContextItem(
        id="hc_1", thread_id="thr_1", created_at=datetime.now(UTC), content="x"
    )
    live = _live(RunEvent(run_id="run_1", seq=1, event=ThreadItemDoneEvent(item=item)))
    assert live.hidden
    assert relayed_frame(live) is None


def test_an_end_is_read_typed_and_garbage_is_refused() -> None:
    ended = RunEnded(run_id="run_1", seq=9, status="failed")
    assert parse_live(dump_run_message(ended)) == ended
    for garbage in (
        b"not json",
        b"[1]",
        b'{"kind": "nonsense"}',
        b'{"v":1,"kind":"event"}',
    ):
        assert parse_live(garbage) is None


def test_each_event_of_a_batch_is_framed_as_the_sdk_frames_it() -> None:
    tricky = 'line one\nline two ,"event": \\n'
    events = [RunEvent(run_id="run_1", seq=seq, event=_done(tricky)) for seq in (1, 2)]
    ended = RunEnded(run_id="run_1", seq=3, status="completed")
    parsed = parse_batch(dump_batch([*events, ended]))
    assert parsed[-1] == ended
    frames = [relayed_frame(live) for live in parsed if isinstance(live, LiveEvent)]
    assert frames == [_sdk_frame(message.event) for message in events]


def test_an_unreadable_line_of_a_batch_does_not_spoil_the_others() -> None:
    event = RunEvent(run_id="run_1", seq=1, event=_done("hi"))
    parsed = parse_batch(b"garbage\n" + dump_run_message(event))
    assert parsed[0] is None
    assert isinstance(parsed[1], LiveEvent)
    assert parsed[1].message == event
