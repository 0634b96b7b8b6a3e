"""SSE parsing and frame validation used by every end-to-end test."""

import pytest
from pydantic import ValidationError

from testkit.chatkit_sse import (
    SimpleText,
    SimpleThread,
    parse_sse,
    validate_chatkit_frames,
    validate_simple_frames,
)

STREAM_OPTIONS = '{"type":"stream_options","stream_options":{"allow_cancel":true}}'


def test_parse_sse_keeps_ids_and_comments_and_joins_data_lines() -> None:
    body = parse_sse(
        f": keepalive\n\nid: 3\ndata: {STREAM_OPTIONS}\n\ndata: a\ndata: b\n\n"
    )
    assert body.comments == ["keepalive"]
    assert [(f.id, f.data) for f in body.frames] == [
        ("3", STREAM_OPTIONS),
        (None, "a\nb"),
    ]


def test_chatkit_frames_validate_against_chatkit_types() -> None:
    events = validate_chatkit_frames(parse_sse(f"data: {STREAM_OPTIONS}\n\n"))
    assert events[0].type == "stream_options"


def test_chatkit_frame_of_unknown_type_fails_validation() -> None:
    with pytest.raises(ValidationError):
        validate_chatkit_frames(parse_sse('data: {"type":"text","content":"x"}\n\n'))


def test_chatkit_stream_with_done_sentinel_is_rejected() -> None:
    with pytest.raises(AssertionError):
        validate_chatkit_frames(parse_sse("data: [DONE]\n\n"))


def test_simple_frames_end_with_done() -> None:
    sse = parse_sse(
        'data: {"type":"thread","thread_id":"thr_1"}\n\n'
        'data: {"type":"text","content":"hi"}\n\n'
        "data: [DONE]\n\n"
    )
    events, done = validate_simple_frames(sse)
    assert done
    assert events == [
        SimpleThread(type="thread", thread_id="thr_1"),
        SimpleText(type="text", content="hi"),
    ]


def test_simple_frame_after_done_is_rejected() -> None:
    sse = parse_sse('data: [DONE]\n\ndata: {"type":"text","content":"late"}\n\n')
    with pytest.raises(AssertionError):
        validate_simple_frames(sse)
