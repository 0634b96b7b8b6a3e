"""A thread's status while a run is in progress (ours) and after it."""

import httpx
from chatkit.types import ErrorEvent, ThreadCreateParams, ThreadsCreateReq

from testkit.chatkit_client import ChatKitClient, user_input
from testkit.chatkit_sse import (
    THREAD_STREAM_EVENT,
    encode_body,
    iter_frames,
)
from testkit.model_script import SLOW_MARKER

from .frames import signature
from .targets import Target


def create_body(text: str) -> bytes:
    params = ThreadCreateParams(input=user_input(text))
    return encode_body(ThreadsCreateReq(params=params))


async def test_a_thread_is_locked_while_its_run_streams_then_active_again(
    target: Target, client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    thread_id = None
    during = None
    listed = None
    async with http.stream(
        "POST",
        "/chatkit",
        content=create_body(f"take your time {SLOW_MARKER}"),
        headers={**client.headers, "Content-Type": "application/json"},
    ) as response:
        assert response.status_code == 200
        async for frame in iter_frames(response):
            event = THREAD_STREAM_EVENT.validate_json(frame.data)
            if event.type == "thread.created":
                thread_id = event.thread.id
            if event.type == "thread.item.updated" and during is None:
                assert thread_id is not None
                during = await client.get_thread(thread_id)
                listed = await client.list_threads()
    assert during is not None
    assert listed is not None
    [listed_thread] = listed.data
    if target.ours:
        # Ours locks a thread while a run holds it (a second message would be
        # refused as busy), so a reloaded UI disables the composer and says why.
        assert during.status.type == "locked"
        assert during.status.reason
        assert listed_thread.status == during.status
    else:
        # The SDK never changes a thread's status by itself.
        assert during.status.type == "active"
        assert listed_thread.status.type == "active"
    assert thread_id is not None
    assert (await client.get_thread(thread_id)).status.type == "active"


async def test_a_message_to_a_thread_that_is_still_answering(
    target: Target, client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    async with http.stream(
        "POST",
        "/chatkit",
        content=create_body(f"slowly {SLOW_MARKER}"),
        headers={**client.headers, "Content-Type": "application/json"},
    ) as response:
        frames = aiter(iter_frames(response))
        created = THREAD_STREAM_EVENT.validate_json((await anext(frames)).data)
        assert created.type == "thread.created"
        thread_id = created.thread.id
        second = await client.add_user_message(thread_id, "are you there?")
        async for _ in frames:
            pass
    stored = (await client.list_items(thread_id, order="asc")).data
    if target.ours:
        # Ours runs one turn per thread at a time: the second message is
        # refused in-band (200, one error event the UI shows) and not stored.
        assert signature(second.events) == ["error:custom"]
        error = second.events[0]
        assert isinstance(error, ErrorEvent)
        assert error.allow_retry is True
        assert [item.type for item in stored] == ["user_message", "assistant_message"]
    else:
        # The SDK answers both at once, interleaving them in the thread.
        assert second.assistant_text() == "Echo: are you there? (user turns: 2)"
        assert len(stored) == 4
