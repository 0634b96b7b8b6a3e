"""worker.py: wake-up pickup, JSON payloads, the demo model, AGENT agents."""

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    WorkflowItem,
)

from agent_worker.worker import dump_json, load_json
from shared import run_log
from shared.events import RunEnded
from shared.jobs import RUN_AGENT_JOB
from shared.redis_keys import run_control_channel, run_events_channel
from testkit.restartable_redis import restartable_redis

from .conftest import fake_model_settings, worker_settings
from .harness import Harness, collect, next_payload
from .live import echo_of, final_run, running_worker, watched_run

DEMO_LABEL = "[offline demo model]"
SLOW_TEXT = "[slow] keep talking"

STOP_AGENT_MODULE = """
from agents import Agent
from agent_worker.tools import TASK_TOOLS


def stop_after_tool():
    return Agent(
        name="stopper", tools=TASK_TOOLS, tool_use_behavior="stop_on_first_tool"
    )
"""


@pytest.fixture
async def demo_harness(
    redis_url: str, history_url: str, worker_queue: str
) -> AsyncIterator[Harness]:
    harness = Harness(worker_settings(redis_url, history_url, worker_queue))
    yield harness
    await harness.aclose()


def test_job_payloads_round_trip_as_json_and_never_pickle() -> None:
    job = {"t": 1, "f": RUN_AGENT_JOB, "a": [{"run_id": "run_1"}], "k": {}, "et": 5}

    data = dump_json(job)

    assert data.startswith(b"{")
    assert load_json(data) == job
    assert dump_json({"r": ValueError("secret text")}) == b'{"r":"ValueError"}'


async def test_worker_starts_a_job_on_wakeup_without_waiting_for_its_poll(
    demo_harness: Harness,
) -> None:
    latencies: list[float] = []
    run_ids: list[str] = []
    async with running_worker(demo_harness.settings, poll_delay=60):
        await asyncio.sleep(0.1)  # the first poll is over: only a wake-up helps now
        for index in range(3):
            conversation = demo_harness.conversation()
            conversation.turns = 1
            run = await demo_harness.open_run(conversation, f"hello {index}")
            async with demo_harness.redis.pubsub() as pubsub:
                await pubsub.subscribe(run_events_channel(run.id))
                started = time.perf_counter()
                await demo_harness.enqueue(conversation, run.id)
                first = await next_payload(pubsub, timeout_s=5.0)
                latencies.append(time.perf_counter() - started)
                assert first is not None
                await collect(pubsub)
            run_ids.append(run.id)

    assert max(latencies) < 1.0
    # A finished job leaves nothing behind (and one try keeps no retry count).
    prefixes = (job_key_prefix, in_progress_key_prefix, retry_key_prefix)
    assert not await demo_harness.redis.exists(
        *(prefix + run_id for prefix in prefixes for run_id in run_ids)
    )
    assert not await demo_harness.redis.zcard(demo_harness.settings.queue_name)


async def test_a_woken_worker_leaves_a_job_another_worker_holds_to_it(
    demo_harness: Harness,
) -> None:
    held, free = demo_harness.conversation(), demo_harness.conversation()
    held.turns = free.turns = 1
    async with running_worker(demo_harness.settings, poll_delay=60) as worker:
        held_run = await demo_harness.open_run(held, "hello")
        free_run = await demo_harness.open_run(free, "hello")
        # What arq's claim leaves behind: the job is in progress on another worker.
        key = in_progress_key_prefix + held_run.id
        await demo_harness.redis.set(key, b"1", px=60_000)
        await demo_harness.enqueue(held, held_run.id)
        await demo_harness.enqueue(free, free_run.id)
        # Woken for both, in that order: by the end of the second, the first
        # was looked at.
        finished = await final_run(demo_harness.history, free.user_id, free_run.id)
        untouched = await demo_harness.history.get_run(held.user_id, held_run.id)

    assert finished.status == "completed"
    assert (untouched.status, untouched.worker) == ("queued", None)
    assert held_run.id not in worker.tasks


async def test_offline_demo_model_calls_task_tools_and_labels_its_answers(
    demo_harness: Harness,
) -> None:
    conversation = demo_harness.conversation()

    added = await conversation.say("add task water the plants")
    chat = await conversation.say("how are you?")

    done = [
        e.event.item for e in added.events if isinstance(e.event, ThreadItemDoneEvent)
    ]
    workflow, answer = done
    assert isinstance(workflow, WorkflowItem)
    assert isinstance(answer, AssistantMessageItem)
    assert answer.content[0].text.startswith(DEMO_LABEL)
    assert "water the plants" in answer.content[0].text
    deltas = [
        e.event.update.delta
        for e in added.events
        if isinstance(e.event, ThreadItemUpdatedEvent)
        and isinstance(e.event.update, AssistantMessageContentPartTextDelta)
    ]
    assert "".join(deltas) == answer.content[0].text
    (reply,) = [
        e.event.item for e in chat.events if isinstance(e.event, ThreadItemDoneEvent)
    ]
    assert isinstance(reply, AssistantMessageItem)
    assert reply.content[0].text.startswith(DEMO_LABEL)
    assert (added.run.status, chat.run.status) == ("completed", "completed")


async def test_agent_setting_loads_a_factory_and_a_turn_ending_on_a_tool_is_stored(
    redis_url: str,
    history_url: str,
    worker_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "stop_agent_module.py").write_text(STOP_AGENT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = worker_settings(
        redis_url, history_url, worker_queue, agent="stop_agent_module:stop_after_tool"
    )
    harness = Harness(settings)
    conversation = harness.conversation()
    try:
        turn = await conversation.say("add task stop here")
        page = await harness.history.list_items(
            conversation.user_id, conversation.thread_id
        )
    finally:
        await harness.aclose()
        sys.modules.pop("stop_agent_module", None)

    done = [
        e.event.item for e in turn.events if isinstance(e.event, ThreadItemDoneEvent)
    ]
    assert [item.type for item in done] == ["workflow"]
    assert turn.messages[-1] == RunEnded(
        run_id=turn.run.id, seq=len(turn.messages), status="completed"
    )
    user, workflow = page.data
    assert user.item.type == "user_message"
    assert workflow.item.id == done[0].id
    assert [call.name for call in workflow.tool_calls] == ["add_task"]
    assert "stop here" in workflow.tool_calls[0].output


async def test_worker_outlives_a_redis_restart_mid_run_and_keeps_serving(
    history_url: str, worker_queue: str, fake_model: str
) -> None:
    with restartable_redis() as server:
        settings = fake_model_settings(
            server.url,
            history_url,
            worker_queue,
            fake_model,
        )
        harness = Harness(settings)
        conversation = harness.conversation()
        try:
            async with running_worker(settings):
                async with watched_run(conversation, SLOW_TEXT) as (run, watch):
                    await watch.deltas(2)
                    await asyncio.to_thread(server.stop)
                    await asyncio.sleep(1.0)
                    await asyncio.to_thread(server.start)
                first = await final_run(harness.history, conversation.user_id, run.id)
                logged = await run_log.read_after(harness.redis, run.id)
                # The same worker: a new run is picked up, a cancel reaches it.
                async with watched_run(conversation, "hello again") as (_, after):
                    second = await after.end()
                async with watched_run(conversation, SLOW_TEXT) as (third, watch3):
                    await watch3.deltas(1)
                    await harness.redis.publish(run_control_channel(third.id), b"x")
                    cancelled = await watch3.end()
            page = await harness.history.list_items(
                conversation.user_id, conversation.thread_id
            )
        finally:
            await harness.aclose()

    assert first.status == "completed"
    answer = page.data[1].item
    assert isinstance(answer, AssistantMessageItem)
    assert answer.content[0].text == echo_of(SLOW_TEXT)
    # What was published while Redis was away went out once it was back.
    assert logged[-1] == RunEnded(run_id=run.id, seq=first.last_seq, status="completed")
    seqs = [m.seq for m in logged]
    assert seqs == list(range(seqs[0], first.last_seq + 1))
    assert second.status == "completed"
    assert cancelled.status == "cancelled"
