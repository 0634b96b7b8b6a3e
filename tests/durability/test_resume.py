"""Runs outlive connections: a reload mid-answer resumes with no gap or duplicate."""

from chatkit.types import ThreadStreamEvent

from testkit.chatkit_client import create_req
from testkit.chatkit_sse import SimpleThread, SseRead, after_frames, after_text_frames
from testkit.cluster import Cluster
from testkit.model_script import SLOW_MARKER

from .conftest import ActorFactory
from .talk import (
    answer_text,
    created_thread_id,
    echo,
    item_text,
    open_actor,
    opening_frames,
    run_id_of,
    simple_text,
    text_frame_ids,
    texts_by_type,
)


def consecutive_from(first: int, ids: list[int]) -> bool:
    return ids == list(range(first, first + len(ids)))


async def replay(
    actor_at: ActorFactory, url: str, run_id: str
) -> tuple[SseRead, list[ThreadStreamEvent]]:
    full = await actor_at(url).runs.events(run_id, after=0)
    assert full.ended, full.broken
    return full, full.chatkit_events()


async def test_reload_mid_answer_resumes_the_chatkit_stream_with_no_gap_or_duplicate(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    text = f"reload {marker} {SLOW_MARKER}"
    first = await actor.chatkit.open(create_req(text), stop_when=after_text_frames(3))
    assert first.cut, (first.status, first.body)
    assert all(frame.id is None for frame in first.frames), "POST frames carry no id"
    first_events = first.chatkit_events()
    run_id = run_id_of(first)
    seen = len(first_events) - opening_frames(first_events)

    rest = await actor.runs.events(run_id, last_event_id=seen)

    assert rest.ended, rest.broken
    assert consecutive_from(seen + 1, rest.ids), rest.ids
    assert len(rest.ids) == len(rest.frames), "every replayed frame has an id"
    full, full_events = await replay(actor_at, durable.gateway_url("gateway-b"), run_id)
    assert consecutive_from(1, full.ids), full.ids
    relayed = first_events[opening_frames(first_events) :]
    assert relayed + rest.chatkit_events() == full_events
    assert answer_text(full_events) == echo(text, 1)
    thread = await actor.chatkit.get_thread(created_thread_id(first_events))
    assert texts_by_type(thread.items.data) == [
        ("user_message", text),
        ("assistant_message", echo(text, 1)),
    ]


async def test_events_are_replayed_and_followed_on_any_gateway_from_last_event_id(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    on_a = actor_at(durable.gateway_url("gateway-a"))
    on_b = actor_at(durable.gateway_url("gateway-b"))
    text = f"follow {marker} {SLOW_MARKER}"
    opened = await on_a.chatkit.open(create_req(text), stop_when=after_frames(3))
    run_id = run_id_of(opened)

    head = await on_b.runs.events(run_id, after=0, stop_when=after_text_frames(3))
    assert head.cut, (head.status, head.body)
    assert consecutive_from(1, head.ids), head.ids
    assert head.last_id is not None
    tail = await on_a.runs.events(run_id, last_event_id=head.last_id)

    assert tail.ended, tail.broken
    assert consecutive_from(head.last_id + 1, tail.ids), tail.ids
    _, full_events = await replay(actor_at, durable.gateway_url("gateway-a"), run_id)
    assert head.chatkit_events() + tail.chatkit_events() == full_events
    assert answer_text(full_events) == echo(text, 1)


async def test_last_event_id_header_wins_over_the_after_query(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    done = await actor.chatkit.open(create_req(f"header wins {marker}"))
    assert done.ended
    run_id = run_id_of(done)

    resumed = await actor.runs.events(run_id, after=1, last_event_id=3)

    assert resumed.ended, resumed.broken
    assert resumed.ids, "the run has more than three events"
    assert resumed.ids[0] == 4
    resumed.chatkit_events()


async def test_simple_format_resumes_after_a_disconnect_with_no_gap_or_duplicate(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    on_a = actor_at(durable.gateway_url("gateway-a"))
    on_b = actor_at(durable.gateway_url("gateway-b"))
    text = f"simple reload {marker} {SLOW_MARKER}"
    first = await on_a.chatkit.open({"message": text}, stop_when=after_text_frames(3))
    assert first.cut, (first.status, first.body)
    opening = first.simple_events()[0]
    assert isinstance(opening, SimpleThread)
    run_id = run_id_of(first)
    assert opening.run_id == run_id
    assert first.last_id is not None

    rest = await on_b.runs.events(run_id, fmt="simple", last_event_id=first.last_id)

    assert rest.ended, rest.broken
    ids = text_frame_ids(first) + text_frame_ids(rest)
    assert ids == sorted(set(ids)), f"text frame ids repeat or go back: {ids}"
    assert simple_text(first) + simple_text(rest) == echo(text, 1)
    full = await on_b.runs.events(run_id, fmt="simple", after=0)
    assert full.ended, full.broken
    assert simple_text(full) == echo(text, 1)
    assert text_frame_ids(full) == ids


async def test_thread_run_reports_the_active_run_then_its_final_status(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    first = await actor.chatkit.open(
        create_req(f"status {marker} {SLOW_MARKER}"), stop_when=after_text_frames(2)
    )
    events = first.chatkit_events()
    thread_id = created_thread_id(events)
    seen = len(events) - opening_frames(events)

    active = await actor_at(durable.gateway_url("gateway-b")).runs.thread_run(thread_id)

    assert active.run_id == run_id_of(first)
    assert active.status == "running"
    assert active.last_seq >= seen
    final = await actor.runs.wait_run(thread_id)
    assert final.run_id == active.run_id
    assert final.status == "completed"
    full, _ = await replay(actor_at, durable.gateway_url("gateway-a"), active.run_id)
    assert full.ids
    assert final.last_seq >= full.ids[-1]


async def test_thread_run_of_an_unknown_or_foreign_thread_is_404(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    url = durable.gateway_url("gateway-a")
    owner = actor_at(url)
    done = await owner.chatkit.open(create_req(f"mine {marker}"))
    thread_id = created_thread_id(done.chatkit_events())
    stranger = open_actor(url, f"stranger-{marker}")
    try:
        foreign = await stranger.runs.thread_run_response(thread_id)
        unknown = await owner.runs.thread_run_response(f"thr_{marker}")
        events = await stranger.runs.events(run_id_of(done), after=0)
    finally:
        await stranger.http.aclose()

    assert foreign.status_code == 404, foreign.text
    assert unknown.status_code == 404, unknown.text
    assert events.status == 404, events.body


async def test_get_by_id_mid_run_shows_the_thread_locked_with_the_partial_answer(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    text = f"partial {marker} {SLOW_MARKER}"
    first = await actor.chatkit.open(create_req(text), stop_when=after_text_frames(3))
    thread_id = created_thread_id(first.chatkit_events())
    reader = actor_at(durable.gateway_url("gateway-b")).chatkit

    during = await reader.get_thread(thread_id)

    assert during.status.type == "locked"
    kinds = [item.type for item in during.items.data]
    assert kinds == ["user_message", "assistant_message"], kinds
    partial = item_text(during.items.data[1])
    assert partial, "the partial answer has the text streamed so far"
    assert echo(text, 1).startswith(partial)
    assert partial != echo(text, 1)
    await actor.runs.wait_run(thread_id)
    after = await reader.get_thread(thread_id)
    assert after.status.type == "active"
    assert texts_by_type(after.items.data)[1] == ("assistant_message", echo(text, 1))


async def test_run_endpoints_and_the_browser_helper_are_served(
    durable: Cluster, actor_at: ActorFactory
) -> None:
    http = actor_at(durable.gateway_url("gateway-b")).http

    paths = (await http.get("/openapi.json")).json()["paths"]
    helper = await http.get("/chatkit/helper.js")

    assert "get" in paths["/chatkit/threads/{thread_id}/run"]
    assert "get" in paths["/chatkit/runs/{run_id}/events"]
    assert "post" in paths["/chatkit/threads/{thread_id}/cancel"]
    assert "post" in paths["/chatkit/runs/{run_id}/cancel"]
    assert helper.status_code == 200
    assert "javascript" in helper.headers["content-type"]
    assert "resumeAfterReload" in helper.text
