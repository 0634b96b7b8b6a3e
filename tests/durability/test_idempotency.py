"""A retried POST with the same Idempotency-Key attaches to the run it started."""

import uuid
from collections.abc import Sequence

from chatkit.types import (
    ClientToolCallItem,
    ThreadAddClientToolOutputParams,
    ThreadItemDoneEvent,
    ThreadsAddClientToolOutputReq,
    ThreadStreamEvent,
    UserMessageItem,
)

from testkit.chatkit_client import add_message_req, create_req
from testkit.chatkit_sse import after_text_frames
from testkit.cluster import Cluster
from testkit.model_script import SLOW_MARKER
from testkit.run_api import IDEMPOTENCY_HEADER

from .conftest import ActorFactory
from .talk import (
    answer_text,
    created_thread_id,
    echo,
    model_calls_with,
    run_id_of,
    texts_by_type,
)


def user_item_ids(events: Sequence[ThreadStreamEvent]) -> list[str]:
    return [
        event.item.id
        for event in events
        if isinstance(event, ThreadItemDoneEvent)
        and isinstance(event.item, UserMessageItem)
    ]


async def test_retried_create_with_the_same_key_attaches_to_the_same_run(
    durable: Cluster, actor_at: ActorFactory, fake_model: str, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    retry_on = actor_at(durable.gateway_url("gateway-b"))
    key = {IDEMPOTENCY_HEADER: uuid.uuid4().hex}
    text = f"once {marker} {SLOW_MARKER}"
    first = await actor.chatkit.open(
        create_req(text), headers=key, stop_when=after_text_frames(2)
    )
    assert first.cut

    retry = await retry_on.chatkit.open(create_req(text), headers=key)

    assert retry.ended, retry.broken
    assert run_id_of(retry) == run_id_of(first)
    first_events, retry_events = first.chatkit_events(), retry.chatkit_events()
    assert retry.chatkit_events()[0].type == "thread.created"
    thread_id = created_thread_id(first_events)
    assert created_thread_id(retry_events) == thread_id
    assert user_item_ids(retry_events) == user_item_ids(first_events)
    assert answer_text(retry_events) == echo(text, 1)
    threads = await actor.chatkit.list_threads()
    assert [thread.id for thread in threads.data] == [thread_id]
    thread = await actor.chatkit.get_thread(thread_id)
    assert texts_by_type(thread.items.data) == [
        ("user_message", text),
        ("assistant_message", echo(text, 1)),
    ]
    assert model_calls_with(fake_model, marker) == 1


async def test_retried_message_with_the_same_key_stores_one_user_message(
    durable: Cluster, actor_at: ActorFactory, fake_model: str, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    opening = await actor.chatkit.create_thread("hello")
    thread_id = opening.thread_id
    assert thread_id is not None
    key = {IDEMPOTENCY_HEADER: uuid.uuid4().hex}
    text = f"just once {marker} {SLOW_MARKER}"
    request = add_message_req(thread_id, text)
    first = await actor.chatkit.open(
        request, headers=key, stop_when=after_text_frames(2)
    )
    assert first.cut

    retry = await actor.chatkit.open(request, headers=key)
    again = await actor.chatkit.open(request, headers=key)

    assert retry.ended, retry.broken
    assert run_id_of(retry) == run_id_of(first) == run_id_of(again)
    retry_events = retry.chatkit_events()
    assert [e.type for e in retry_events[:2]] == ["thread.item.done", "stream_options"]
    assert user_item_ids(retry_events) == user_item_ids(first.chatkit_events())
    assert answer_text(retry_events) == echo(text, 2)
    assert answer_text(again.chatkit_events()) == echo(text, 2)
    thread = await actor.chatkit.get_thread(thread_id)
    assert texts_by_type(thread.items.data) == [
        ("user_message", "hello"),
        ("assistant_message", echo("hello", 1)),
        ("user_message", text),
        ("assistant_message", echo(text, 2)),
    ]
    assert model_calls_with(fake_model, marker) == 1


async def test_retried_tool_output_after_it_succeeded_attaches_to_its_run(
    durable: Cluster, actor_at: ActorFactory
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    retry_on = actor_at(durable.gateway_url("gateway-b"))
    asked = await actor.chatkit.create_thread("what is my timezone")
    thread_id = asked.thread_id
    assert thread_id is not None
    key = {IDEMPOTENCY_HEADER: uuid.uuid4().hex}
    params = ThreadAddClientToolOutputParams(thread_id=thread_id, result="Paris")
    request = ThreadsAddClientToolOutputReq(params=params)
    first = await actor.chatkit.open(request, headers=key)
    assert first.ended, first.broken

    # The call is answered now: only the key can bring the retry to its run.
    retry = await retry_on.chatkit.open(request, headers=key)

    assert retry.ended, retry.broken
    assert run_id_of(retry) == run_id_of(first)
    assert answer_text(retry.chatkit_events()) == answer_text(first.chatkit_events())
    thread = await actor.chatkit.get_thread(thread_id)
    items = thread.items.data
    assert [item.type for item in items] == [
        "user_message",
        "client_tool_call",
        "assistant_message",
    ]
    assert isinstance(items[1], ClientToolCallItem)
    assert (items[1].status, items[1].output) == ("completed", "Paris")
