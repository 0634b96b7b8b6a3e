"""Stop works from any gateway; stopping a finished run changes nothing."""

import asyncio
from typing import Literal

import pytest
from chatkit.types import (
    AssistantMessageItem,
    SDKHiddenContextItem,
    ThreadItemDoneEvent,
)

from shared.history_client import HistoryClient
from testkit.chatkit_client import create_req
from testkit.chatkit_sse import SseRead, after_text_frames
from testkit.cluster import Cluster
from testkit.model_script import SLOW_MARKER
from testkit.run_api import CancelAnswer

from .conftest import ActorFactory
from .talk import (
    CANCELLED_CONTEXT,
    Actor,
    answer_text,
    created_thread_id,
    echo,
    item_text,
    open_actor,
    run_id_of,
    stored_items,
    texts_by_type,
)

STOP_WITHIN_S = 10.0


async def cancel(
    actor: Actor, by: Literal["thread", "run"], read: SseRead
) -> CancelAnswer:
    if by == "thread":
        return await actor.runs.cancel_thread(created_thread_id(read.chatkit_events()))
    return await actor.runs.cancel_run(run_id_of(read))


@pytest.mark.parametrize("by", ["thread", "run"])
async def test_stop_sent_to_a_second_gateway_stops_the_run(
    durable: Cluster,
    actor_at: ActorFactory,
    history: HistoryClient,
    marker: str,
    by: Literal["thread", "run"],
) -> None:
    on_a = actor_at(durable.gateway_url("gateway-a"))
    on_b = actor_at(durable.gateway_url("gateway-b"))
    text = f"stop me {marker} {SLOW_MARKER}"
    read = SseRead()
    streaming = asyncio.create_task(on_a.chatkit.open(create_req(text), into=read))
    await read.wait_for(after_text_frames(2), within_s=15, what="two text deltas")

    answer = await cancel(on_b, by, read)

    assert answer.run_id == run_id_of(read)
    assert answer.cancel_requested is True
    assert answer.status in ("running", "cancelled")
    await asyncio.wait_for(streaming, STOP_WITHIN_S)
    assert read.ended, read.broken
    events = read.chatkit_events()
    streamed = answer_text(events)
    assert streamed != echo(text, 1)
    done = [
        event.item
        for event in events
        if isinstance(event, ThreadItemDoneEvent)
        and isinstance(event.item, AssistantMessageItem)
    ]
    assert len(done) == 1, "the partial answer is published as done"
    partial = item_text(done[0])
    assert partial.startswith(streamed)
    assert echo(text, 1).startswith(partial)
    thread_id = created_thread_id(events)
    final = await on_b.runs.wait_run(thread_id, within_s=5)
    assert final.status == "cancelled"
    items = await stored_items(history, on_a.user_id, thread_id)
    assert texts_by_type(items) == [
        ("user_message", text),
        ("assistant_message", partial),
        ("sdk_hidden_context", CANCELLED_CONTEXT),
    ]
    assert isinstance(items[2], SDKHiddenContextItem)
    thread = await on_a.chatkit.get_thread(thread_id)
    assert thread.status.type == "active"
    assert [item.type for item in thread.items.data] == [
        "user_message",
        "assistant_message",
    ]
    after = await on_b.chatkit.add_user_message(thread_id, f"after stop {marker}")
    assert after.assistant_text().startswith(f"Echo: after stop {marker}")


async def test_cancel_of_a_finished_run_changes_nothing_and_answers_200(
    durable: Cluster, actor_at: ActorFactory, history: HistoryClient, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-b"))
    text = f"already done {marker}"
    done = await actor.chatkit.open(create_req(text))
    assert done.ended
    run_id = run_id_of(done)
    thread_id = created_thread_id(done.chatkit_events())
    before = await stored_items(history, actor.user_id, thread_id)

    by_run = await actor.runs.cancel_run(run_id)
    by_thread = await actor.runs.cancel_thread(thread_id)

    expected = CancelAnswer(run_id=run_id, status="completed", cancel_requested=False)
    assert by_run == expected
    assert by_thread == expected
    assert await stored_items(history, actor.user_id, thread_id) == before
    assert texts_by_type(before) == [
        ("user_message", text),
        ("assistant_message", echo(text, 1)),
    ]
    view = await actor.runs.thread_run(thread_id)
    assert (view.run_id, view.status) == (run_id, "completed")


async def test_cancel_of_an_unknown_or_foreign_run_is_404(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    url = durable.gateway_url("gateway-a")
    owner = actor_at(url)
    done = await owner.chatkit.open(create_req(f"not yours {marker}"))
    run_id = run_id_of(done)
    thread_id = created_thread_id(done.chatkit_events())
    stranger = open_actor(url, f"stranger-{marker}")
    try:
        foreign_run = await stranger.runs.cancel_run_response(run_id)
        foreign_thread = await stranger.runs.cancel_thread_response(thread_id)
    finally:
        await stranger.http.aclose()
    unknown_run = await owner.runs.cancel_run_response(f"run_{marker}")
    unknown_thread = await owner.runs.cancel_thread_response(f"thr_{marker}")

    for response in (foreign_run, foreign_thread, unknown_run, unknown_thread):
        assert response.status_code == 404, (response.request.url, response.text)
