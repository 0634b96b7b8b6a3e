"""Drive agent turns the way the gateway does, against a burst worker in-process.

Real history, real Redis, the scripted model: open the run (durable first),
subscribe to its channel, enqueue the RunJob, run a burst worker, and collect
every published message, validated with the chatkit types.
"""

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arq.connections import RedisSettings, create_pool
from chatkit.types import (
    Attachment,
    InferenceOptions,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from agent_worker.settings import AgentWorkerSettings
from agent_worker.worker import build_worker, dump_json, load_json
from shared import run_log
from shared.events import RunEnded, RunEvent
from shared.history_api import RunOpen, RunRecord
from shared.history_client import HistoryClient
from shared.ids import new_id
from shared.jobs import RUN_AGENT_JOB, RespondOp, RunJob, RunOp
from shared.redis_keys import queue_wakeup_channel, run_events_channel

COLLECT_TIMEOUT_S = 10.0
RESULT_TIMEOUT_S = 10.0

MODEL_SETUPS: dict[str, dict[str, str]] = {
    "responses": {"model": "fake-model", "model_api": "responses"},
    "chat_completions": {"model": "fake-model", "model_api": "chat_completions"},
    "litellm": {"model": "litellm/openai/fake-model"},
}
"""Worker settings of the three model paths to the fake model."""


@dataclass
class TurnResult:
    """What one turn published, and its run record afterwards."""

    run: RunRecord
    raw: list[bytes]
    messages: list[RunEvent | RunEnded]

    @property
    def events(self) -> list[RunEvent]:
        """The RunEvents, without the final RunEnded."""
        return [m for m in self.messages if isinstance(m, RunEvent)]

    @property
    def done(self) -> list[ThreadItem]:
        """The items of the `thread.item.done` events, in order."""
        return [
            e.event.item
            for e in self.events
            if isinstance(e.event, ThreadItemDoneEvent)
        ]


@dataclass
class Conversation:
    """One user's thread driven turn by turn."""

    harness: "Harness"
    user_id: str = field(default_factory=lambda: f"user-{uuid.uuid4().hex[:8]}")
    thread_id: str = field(default_factory=lambda: new_id("thr"))
    turns: int = 0

    async def say(
        self, text: str, attachments: Sequence[Attachment] = ()
    ) -> TurnResult:
        """Store `text` as the user's message and run one agent turn on it."""
        self.turns += 1
        return await self.harness.turn(self, text, attachments)

    async def run(self, op: RunOp, save_items: Sequence[ThreadItem] = ()) -> TurnResult:
        """A run without a new user message (`save_items` stored as it opens)."""
        return await self.harness.run_op(self, op, save_items)


class Harness:
    """Shared clients of the agent-worker integration tests."""

    def __init__(self, settings: AgentWorkerSettings) -> None:
        self.settings = settings
        self.history = HistoryClient(settings.history_url)
        self.redis = Redis.from_url(settings.redis_url)

    async def aclose(self) -> None:
        """Close the clients."""
        await self.history.aclose()
        await self.redis.aclose()

    def conversation(self) -> Conversation:
        """A new thread of a new user."""
        return Conversation(self)

    async def open_run(
        self,
        conversation: Conversation,
        text: str,
        attachments: Sequence[Attachment] = (),
        lease_s: int = 1800,
    ) -> RunRecord:
        """Durable first: the thread (first turn), the user item and the run."""
        now = datetime.now(UTC)
        new_thread = None
        if conversation.turns == 1:
            new_thread = ThreadMetadata(
                id=conversation.thread_id, created_at=now, title="Tasks"
            )
        user_item = UserMessageItem(
            id=new_id("msg"),
            thread_id=conversation.thread_id,
            created_at=now,
            content=[UserMessageTextContent(text=text)],
            attachments=list(attachments),
            inference_options=InferenceOptions(),
        )
        run_open = RunOpen(
            thread_id=conversation.thread_id,
            new_thread=new_thread,
            user_item=user_item,
            lease_s=lease_s,
        )
        return await self.history.open_run(conversation.user_id, run_open)

    async def enqueue(
        self, conversation: Conversation, run_id: str, op: RunOp | None = None
    ) -> None:
        """Enqueue the RunJob as the gateway does, then wake the workers."""
        job = RunJob(
            run_id=run_id,
            thread_id=conversation.thread_id,
            user_id=conversation.user_id,
            request_id=new_id("req"),
            enqueued_at=datetime.now(UTC),
            op=op or RespondOp(),
        )
        pool = await self._pool()
        try:
            await pool.enqueue_job(
                RUN_AGENT_JOB, job.model_dump(mode="json"), _job_id=run_id
            )
        finally:
            await pool.aclose()
        await self.redis.publish(queue_wakeup_channel(self.settings.queue_name), run_id)

    async def call(self, function: str, payload: BaseModel) -> Any:
        """Run a request/reply job as the gateway does; its result (JSON)."""
        pool = await self._pool()
        try:
            job = await pool.enqueue_job(function, payload.model_dump(mode="json"))
            await self.run_burst_worker()
            return await job.result(timeout=RESULT_TIMEOUT_S, poll_delay=0.02)
        finally:
            await pool.aclose()

    async def _pool(self) -> Any:
        return await create_pool(
            RedisSettings.from_dsn(self.settings.redis_url),
            job_serializer=dump_json,
            job_deserializer=load_json,
            default_queue_name=self.settings.queue_name,
        )

    async def run_burst_worker(self) -> None:
        """Run every queued job to its end with an in-process burst worker."""
        worker: Any = build_worker(
            self.settings, burst=True, handle_signals=False, poll_delay=0.01
        )
        try:
            await worker.async_run()
        finally:
            await worker.close()

    async def turn(
        self,
        conversation: Conversation,
        text: str,
        attachments: Sequence[Attachment] = (),
    ) -> TurnResult:
        """One full turn: open, subscribe, enqueue, work, collect."""
        run = await self.open_run(conversation, text, attachments)
        return await self._work(conversation, run, None)

    async def run_op(
        self,
        conversation: Conversation,
        op: RunOp,
        save_items: Sequence[ThreadItem] = (),
    ) -> TurnResult:
        """A run on the stored thread (no user message), like the gateway's ops."""
        run_open = RunOpen(
            thread_id=conversation.thread_id, save_items=list(save_items)
        )
        run = await self.history.open_run(conversation.user_id, run_open)
        return await self._work(conversation, run, op)

    async def _work(
        self, conversation: Conversation, run: RunRecord, op: RunOp | None
    ) -> TurnResult:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(run_events_channel(run.id))
            await self.enqueue(conversation, run.id, op)
            await self.run_burst_worker()
            raw = await collect(pubsub)
        messages = [m for data in raw for m in run_log.parse_batch(data)]
        record = await self.history.get_run(conversation.user_id, run.id)
        return TurnResult(run=record, raw=raw, messages=messages)


async def next_payload(pubsub: PubSub, timeout_s: float) -> bytes | None:
    """The next published payload (subscribe confirmations skipped), or None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            data: bytes = message["data"]
            return data
    return None


async def collect(pubsub: PubSub, timeout_s: float = COLLECT_TIMEOUT_S) -> list[bytes]:
    """Published payloads (batches, see ``shared.run_log``) up to the RunEnded."""
    raw: list[bytes] = []
    while (data := await next_payload(pubsub, timeout_s)) is not None:
        raw.append(data)
        if isinstance(run_log.parse_batch(data)[-1], RunEnded):
            return raw
    raise AssertionError(f"no RunEnded within {timeout_s}s after {len(raw)} messages")


def call_ids_in(body: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Call ids of the function calls and of the outputs in a model request."""
    calls: set[str] = set()
    outputs: set[str] = set()
    for item in body.get("input") or []:
        if item.get("type") == "function_call":
            calls.add(item["call_id"])
        if item.get("type") == "function_call_output":
            outputs.add(item["call_id"])
    for message in body.get("messages") or []:
        calls |= {call["id"] for call in message.get("tool_calls") or []}
        if message.get("role") == "tool":
            outputs.add(message["tool_call_id"])
    return calls, outputs
