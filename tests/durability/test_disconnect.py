"""A disconnect leaves the run alone by default; ON_DISCONNECT=cancel stops it."""

from chatkit.types import AssistantMessageItem, SDKHiddenContextItem

from shared.history_client import HistoryClient
from testkit.chatkit_client import create_req
from testkit.chatkit_sse import after_text_frames
from testkit.cluster import Cluster
from testkit.model_script import SLOW_MARKER

from .conftest import ActorFactory, GatewayFactory
from .talk import (
    CANCELLED_CONTEXT,
    created_thread_id,
    echo,
    item_text,
    stored_items,
    texts_by_type,
)


async def test_disconnect_does_not_stop_the_run_and_the_answer_is_stored(
    durable: Cluster, actor_at: ActorFactory, marker: str
) -> None:
    actor = actor_at(durable.gateway_url("gateway-a"))
    text = f"gone {marker} {SLOW_MARKER}"

    first = await actor.chatkit.open(create_req(text), stop_when=after_text_frames(2))

    assert first.cut
    thread_id = created_thread_id(first.chatkit_events())
    final = await actor.runs.wait_run(thread_id)
    assert final.status == "completed"
    thread = await actor.chatkit.get_thread(thread_id)
    assert thread.status.type == "active"
    assert texts_by_type(thread.items.data) == [
        ("user_message", text),
        ("assistant_message", echo(text, 1)),
    ]


async def test_disconnect_cancels_the_run_when_on_disconnect_is_cancel(
    policy_gateway: GatewayFactory,
    actor_at: ActorFactory,
    history: HistoryClient,
    marker: str,
) -> None:
    url = policy_gateway("gateway-cancel-on-disconnect", {"ON_DISCONNECT": "cancel"})
    actor = actor_at(url)
    text = f"gone for good {marker} {SLOW_MARKER}"

    first = await actor.chatkit.open(create_req(text), stop_when=after_text_frames(2))

    assert first.cut
    thread_id = created_thread_id(first.chatkit_events())
    final = await actor.runs.wait_run(thread_id, within_s=15)
    assert final.status == "cancelled"
    items = await stored_items(history, actor.user_id, thread_id)
    kinds = [item.type for item in items]
    assert kinds == ["user_message", "assistant_message", "sdk_hidden_context"], kinds
    partial = items[1]
    assert isinstance(partial, AssistantMessageItem)
    assert item_text(partial)
    assert echo(text, 1).startswith(item_text(partial))
    assert item_text(partial) != echo(text, 1)
    hidden = items[2]
    assert isinstance(hidden, SDKHiddenContextItem)
    assert hidden.content == CANCELLED_CONTEXT
    thread = await actor.chatkit.get_thread(thread_id)
    assert thread.status.type == "active"
