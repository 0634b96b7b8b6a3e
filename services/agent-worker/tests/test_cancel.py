"""Cancel: the control channel, the persisted flag and the cancel key all stop a run.

Each cancelled run keeps the answer streamed so far (published as done and
stored), stores chatkit's hidden "cancelled" note without publishing it, and
ends `cancelled`, as ChatKitServer does when its client cancels.
"""

import time
from collections.abc import AsyncIterator

import pytest
from chatkit.types import AssistantMessageItem, SDKHiddenContextItem, UserMessageItem

from agent_worker.run_end import CANCELLED_NOTE
from shared.events import RunEnded
from shared.redis_keys import run_cancel, run_control_channel, run_events_channel
from testkit.fake_model import recorded_requests

from .conftest import API_KEY, worker_settings
from .harness import MODEL_SETUPS, Conversation, Harness
from .live import (
    RunMessage,
    Watch,
    done_items,
    echo_of,
    ended,
    running_worker,
    text_deltas,
    watched_run,
)

HEARTBEAT_S = 0.3
SLOW_TEXT = "[slow] tell me about the sea"


def _harness(
    redis_url: str, history_url: str, queue: str, fake_model: str, model_setup: str
) -> Harness:
    """The fake model on one of its paths; heartbeats every 0.3 s."""
    settings = worker_settings(
        redis_url,
        history_url,
        f"{queue}:cancel",
        openai_api_key=API_KEY,
        openai_base_url=fake_model,
        worker_heartbeat_s=HEARTBEAT_S,
        **MODEL_SETUPS[model_setup],
    )
    return Harness(settings)


@pytest.fixture
async def harness(
    redis_url: str, history_url: str, worker_queue: str, fake_model: str
) -> AsyncIterator[Harness]:
    """The fake model over the Responses API."""
    harness = _harness(redis_url, history_url, worker_queue, fake_model, "responses")
    yield harness
    await harness.aclose()


@pytest.fixture(params=list(MODEL_SETUPS))
async def any_model_harness(
    request: pytest.FixtureRequest,
    redis_url: str,
    history_url: str,
    worker_queue: str,
    fake_model: str,
) -> AsyncIterator[Harness]:
    """The fake model on each of its three paths (Responses, Chat, LiteLLM)."""
    harness = _harness(redis_url, history_url, worker_queue, fake_model, request.param)
    yield harness
    await harness.aclose()


async def _assert_cancelled_with_partial_answer(
    conversation: Conversation, run_id: str, messages: list[RunMessage]
) -> None:
    harness = conversation.harness
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert messages[-1] == RunEnded(
        run_id=run_id, seq=len(messages), status="cancelled"
    )
    (partial,) = done_items(messages)
    assert isinstance(partial, AssistantMessageItem)
    streamed = "".join(text_deltas(messages))
    assert partial.content[0].text == streamed
    assert streamed
    assert echo_of(SLOW_TEXT).startswith(streamed)
    assert len(streamed) < len(echo_of(SLOW_TEXT))
    page = await harness.history.list_items(
        conversation.user_id, conversation.thread_id
    )
    user, answer, note = (record.item for record in page.data)
    assert isinstance(user, UserMessageItem)
    assert answer == partial
    assert isinstance(note, SDKHiddenContextItem)
    assert note.content == CANCELLED_NOTE
    run = await harness.history.get_run(conversation.user_id, run_id)
    assert (run.status, run.last_seq) == ("cancelled", len(messages))


async def test_cancel_on_the_control_channel_mid_answer_keeps_the_partial_text(
    any_model_harness: Harness,
) -> None:
    harness = any_model_harness
    conversation = harness.conversation()

    async with (
        running_worker(harness.settings),
        watched_run(conversation, SLOW_TEXT) as (run, watch),
    ):
        await watch.deltas(3)
        await harness.redis.publish(run_control_channel(run.id), b"cancel")
        asked = time.monotonic()
        await watch.end()
        stopped_s = time.monotonic() - asked

    await _assert_cancelled_with_partial_answer(conversation, run.id, watch.messages)
    # Well before the next heartbeat and the rest of the paced answer.
    assert stopped_s < HEARTBEAT_S


async def test_cancel_flag_alone_is_seen_at_the_next_heartbeat(
    harness: Harness,
) -> None:
    conversation = harness.conversation()

    async with (
        running_worker(harness.settings),
        watched_run(conversation, SLOW_TEXT) as (run, watch),
    ):
        await watch.deltas(2)
        flagged = await harness.history.request_cancel(conversation.user_id, run.id)
        asked = time.monotonic()
        await watch.end()
        stopped_s = time.monotonic() - asked

    assert flagged.cancel_requested
    await _assert_cancelled_with_partial_answer(conversation, run.id, watch.messages)
    assert stopped_s < HEARTBEAT_S + 0.5


async def test_cancel_sent_before_pickup_ends_the_run_without_a_model_call(
    harness: Harness, fake_model: str
) -> None:
    conversation = harness.conversation()
    conversation.turns = 1
    text = f"never answered {conversation.user_id}"

    async with running_worker(harness.settings):
        run = await harness.open_run(conversation, text)
        # What the gateway's cancel does: the flag, then the signal (which no
        # worker hears yet: the run is not picked up).
        await harness.history.request_cancel(conversation.user_id, run.id)
        await harness.redis.set(run_cancel(run.id), b"1", ex=60)
        await harness.redis.publish(run_control_channel(run.id), b"cancel")
        async with harness.redis.pubsub() as pubsub:
            await pubsub.subscribe(run_events_channel(run.id))
            await harness.enqueue(conversation, run.id)
            messages = await Watch(pubsub).until(ended)

    assert messages == [RunEnded(run_id=run.id, seq=1, status="cancelled")]
    page = await harness.history.list_items(
        conversation.user_id, conversation.thread_id
    )
    assert [record.item.type for record in page.data] == [
        "user_message",
        "sdk_hidden_context",
    ]
    assert not [r for r in recorded_requests(fake_model) if text in str(r.body)]
    stored = await harness.history.get_run(conversation.user_id, run.id)
    assert stored.status == "cancelled"
