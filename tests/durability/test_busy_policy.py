"""Two sends on one thread at once, under each BUSY_POLICY."""

import asyncio

from chatkit.types import ErrorEvent

from shared.history_client import HistoryClient
from testkit.chatkit_client import add_message_req, create_req
from testkit.chatkit_sse import ChatKitStream, SseRead, after_text_frames
from testkit.cluster import Cluster
from testkit.model_script import SLOW_MARKER

from .conftest import ActorFactory, GatewayFactory
from .talk import (
    CANCELLED_CONTEXT,
    Actor,
    answer_text,
    created_thread_id,
    echo,
    run_id_of,
    stored_items,
    texts_by_type,
)

FIRST_ENDS_WITHIN_S = 15.0


async def first_run_streaming(
    actor: Actor, text: str
) -> tuple[SseRead, "asyncio.Task[SseRead]"]:
    """A slow first message, read in the background until two deltas arrived."""
    read = SseRead()
    task = asyncio.create_task(actor.chatkit.open(create_req(text), into=read))
    await read.wait_for(after_text_frames(2), within_s=15, what="two text deltas")
    return read, task


def errors(stream: ChatKitStream) -> list[ErrorEvent]:
    return [event for event in stream.events if isinstance(event, ErrorEvent)]


async def test_reject_answers_the_second_send_with_an_error_and_stores_nothing(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    first_text = f"first {marker} {SLOW_MARKER}"
    read, first = await first_run_streaming(actor, first_text)
    thread_id = created_thread_id(read.chatkit_events())

    second = await actor.chatkit.stream(add_message_req(thread_id, f"second {marker}"))

    assert len(errors(second)) == 1, second.types
    assert errors(second)[0].message
    assert second.assistant_text() == ""
    await asyncio.wait_for(first, FIRST_ENDS_WITHIN_S)
    assert answer_text(read.chatkit_events()) == echo(first_text, 1)
    final = await actor.runs.wait_run(thread_id)
    assert (final.run_id, final.status) == (run_id_of(read), "completed")
    thread = await actor.chatkit.get_thread(thread_id)
    assert texts_by_type(thread.items.data) == [
        ("user_message", first_text),
        ("assistant_message", echo(first_text, 1)),
    ]


async def test_enqueue_answers_both_sends_in_order(
    policy_gateway: GatewayFactory, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(policy_gateway("gateway-enqueue", {"BUSY_POLICY": "enqueue"}))
    first_text = f"first {marker} {SLOW_MARKER}"
    second_text = f"second {marker}"
    read, first = await first_run_streaming(actor, first_text)
    thread_id = created_thread_id(read.chatkit_events())

    second = await actor.chatkit.stream(add_message_req(thread_id, second_text))

    assert errors(second) == []
    assert second.assistant_text() == echo(second_text, 2)
    assert first.done(), "the second run waits for the first one to end"
    assert answer_text(read.chatkit_events()) == echo(first_text, 1)
    assert second.response.headers["x-run-id"] != run_id_of(read)
    thread = await actor.chatkit.get_thread(thread_id)
    assert texts_by_type(thread.items.data) == [
        ("user_message", first_text),
        ("assistant_message", echo(first_text, 1)),
        ("user_message", second_text),
        ("assistant_message", echo(second_text, 2)),
    ]


async def test_interrupt_cancels_the_first_run_and_answers_the_second(
    policy_gateway: GatewayFactory,
    actor_at: ActorFactory,
    history: HistoryClient,
    marker: str,
) -> None:
    actor = actor_at(policy_gateway("gateway-interrupt", {"BUSY_POLICY": "interrupt"}))
    first_text = f"first {marker} {SLOW_MARKER}"
    second_text = f"second {marker}"
    read, first = await first_run_streaming(actor, first_text)
    thread_id = created_thread_id(read.chatkit_events())
    first_run = run_id_of(read)

    second = await actor.chatkit.stream(add_message_req(thread_id, second_text))

    assert errors(second) == []
    assert second.assistant_text().startswith(f"Echo: {second_text}")
    await asyncio.wait_for(first, FIRST_ENDS_WITHIN_S)
    assert read.ended
    assert answer_text(read.chatkit_events()) != echo(first_text, 1)
    cancelled = await history.get_run(actor.user_id, first_run)
    assert cancelled.status == "cancelled"
    items = texts_by_type(await stored_items(history, actor.user_id, thread_id))
    kinds = [kind for kind, _ in items]
    assert kinds == [
        "user_message",
        "assistant_message",
        "sdk_hidden_context",
        "user_message",
        "assistant_message",
    ], items
    assert echo(first_text, 1).startswith(items[1][1])
    assert items[2][1] == CANCELLED_CONTEXT
    assert items[3][1] == second_text
    assert items[4][1] == second.assistant_text()
