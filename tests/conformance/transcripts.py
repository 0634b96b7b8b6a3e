"""Record one scripted conversation against a target, and normalise transcripts.

A transcript is a list of steps: the request sent, what came back (the stream's
events, the JSON answer, or a refusal) and the thread's items afterwards (as
``items.list`` returns them). ``ALLOWED_DIFFERENCES`` lists every normalisation
applied before two transcripts are compared, each with the reason ours differs
from the SDK on purpose; nothing else may differ.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import (
    encode_body,
    parse_sse,
    validate_chatkit_frames,
)

from .targets import Target, TargetName

JSON = Any
ITEMS_LIMIT = 100


@dataclass
class Step:
    """One request of the script and its observable effects."""

    name: str
    request: JSON
    answer: JSON
    items: JSON = None


Transcript = list[Step]


async def _answer(client: ChatKitClient, body: BaseModel | dict[str, Any]) -> JSON:
    """Events (as JSON) of a stream, the JSON of an answer, or the refusal."""
    try:
        response = await client.post(body)
    except httpx.RemoteProtocolError:
        return {"refused": "dropped connection"}
    if response.status_code != 200:
        return {"refused": response.status_code}
    if response.headers["content-type"].startswith("text/event-stream"):
        events = validate_chatkit_frames(parse_sse(response.text))
        return [event.model_dump(mode="json", exclude_none=True) for event in events]
    return response.json()


class Recorder:
    """Sends requests as one user and records each as a Step."""

    def __init__(self, client: ChatKitClient) -> None:
        self.client = client
        self.steps: Transcript = []
        self.thread_id = ""

    async def send(self, name: str, body: dict[str, Any]) -> JSON:
        """Send ``body``; record it, its answer and the thread's items after it."""
        answer = await _answer(self.client, body)
        if (
            isinstance(answer, list)
            and answer
            and answer[0]["type"] == "thread.created"
        ):
            self.thread_id = answer[0]["thread"]["id"]
        items = await _answer(
            self.client,
            {
                "type": "items.list",
                "params": {
                    "thread_id": self.thread_id,
                    "order": "asc",
                    "limit": ITEMS_LIMIT,
                },
            },
        )
        self.steps.append(Step(name, json.loads(encode_body(body)), answer, items))
        return answer


def _text(content: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": content}],
        "attachments": [],
        "inference_options": {},
    }


def _done_items(events: JSON, item_type: str) -> list[dict[str, Any]]:
    return [
        event["item"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == item_type
    ]


def _complete_action(widget: dict[str, Any]) -> dict[str, Any]:
    """The first ``tasks.complete`` action config of a widget item."""
    found: list[dict[str, Any]] = []

    def visit(d: dict[str, Any]) -> dict[str, Any]:
        if d.get("type") == "tasks.complete" and "payload" in d:
            found.append(d)
        return d

    _walk(widget, visit)
    assert found, widget
    return {"type": "tasks.complete", "payload": found[0]["payload"]}


async def record_conversation(client: ChatKitClient) -> Transcript:
    """create -> tool turn -> client tool round trip -> retry -> card + custom
    action -> feedback -> delete -> read the deleted thread."""
    r = Recorder(client)
    created = await r.send(
        "threads.create",
        {"type": "threads.create", "params": {"input": _text("hello")}},
    )
    [first_user] = _done_items(created, "user_message")
    thread = {"thread_id": r.thread_id}
    for text in ("add task buy milk", "what is my timezone"):
        await r.send(
            f"threads.add_user_message: {text}",
            {
                "type": "threads.add_user_message",
                "params": {**thread, "input": _text(text)},
            },
        )
    await r.send(
        "threads.add_client_tool_output",
        {
            "type": "threads.add_client_tool_output",
            "params": {**thread, "result": {"timezone": "Europe/Paris"}},
        },
    )
    await r.send(
        "threads.retry_after_item",
        {
            "type": "threads.retry_after_item",
            "params": {**thread, "item_id": first_user["id"]},
        },
    )
    shown = await r.send(
        "threads.add_user_message: show my tasks",
        {
            "type": "threads.add_user_message",
            "params": {**thread, "input": _text("show my tasks")},
        },
    )
    [widget] = _done_items(shown, "widget")
    acted = await r.send(
        "threads.custom_action",
        {
            "type": "threads.custom_action",
            "params": {
                **thread,
                "item_id": widget["id"],
                "action": _complete_action(widget),
            },
        },
    )
    [message] = _done_items(acted, "assistant_message")
    await r.send(
        "items.feedback",
        {
            "type": "items.feedback",
            "params": {**thread, "item_ids": [message["id"]], "kind": "positive"},
        },
    )
    await r.send("threads.delete", {"type": "threads.delete", "params": thread})
    await r.send("threads.get_by_id", {"type": "threads.get_by_id", "params": thread})
    return r.steps


# --- normalisation ------------------------------------------------------------


def _walk(
    value: JSON, visit: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> JSON:
    """A copy of ``value``; ``visit`` may rewrite or (returning None) drop dicts."""
    if isinstance(value, list):
        kept = [_walk(child, visit) for child in value]
        return [child for child in kept if child is not _DROP]
    if isinstance(value, dict):
        rewritten = visit(value)
        if rewritten is None:
            return _DROP
        return {key: _walk(child, visit) for key, child in rewritten.items()}
    return value


_DROP = object()


def _map_steps(
    transcript: Transcript, visit: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> Transcript:
    return [
        Step(
            s.name,
            _walk(s.request, visit),
            _walk(s.answer, visit),
            _walk(s.items, visit),
        )
        for s in transcript
    ]


def without_timestamps(transcript: Transcript, target: TargetName) -> Transcript:
    """Ours stamps aware UTC times, the SDK naive local ones; neither is comparable."""
    return _map_steps(
        transcript,
        lambda d: {k: v for k, v in d.items() if k not in ("created_at", "updated_at")},
    )


def without_titles(transcript: Transcript, target: TargetName) -> Transcript:
    """Ours titles a thread from its first message; the SDK leaves it unset."""

    def visit(d: dict[str, Any]) -> dict[str, Any]:
        if "status" in d and "items" in d:
            return {k: v for k, v in d.items() if k != "title"}
        return d

    return _map_steps(transcript, visit)


def without_tool_activity(transcript: Transcript, target: TargetName) -> Transcript:
    """Ours shows (and stores) server tool calls as a workflow item; the SDK
    shows and stores nothing for them."""
    if target != "ours":
        return transcript
    workflow_ids = {
        item["id"]
        for step in transcript
        for item in (step.items if isinstance(step.items, dict) else {}).get("data", [])
        if item["type"] == "workflow"
    }

    def visit(d: dict[str, Any]) -> dict[str, Any] | None:
        item = d.get("item")
        carries_workflow = isinstance(item, dict) and item.get("type") == "workflow"
        if carries_workflow or d.get("type") == "workflow":
            return None
        return None if d.get("item_id") in workflow_ids else d

    return _map_steps(transcript, visit)


def merged_text_deltas(transcript: Transcript, target: TargetName) -> Transcript:
    """Ours coalesces text deltas (~30 ms windows); the SDK forwards each model
    delta. A run of deltas of one content part becomes one delta."""
    merged: Transcript = []
    for step in transcript:
        answer = step.answer
        if isinstance(answer, list):
            answer = _merge_deltas(answer)
        merged.append(Step(step.name, step.request, answer, step.items))
    return merged


def _merge_deltas(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for event in events:
        update = event.get("update", {})
        previous = out[-1] if out else {}
        if (
            update.get("type") == "assistant_message.content_part.text_delta"
            and previous.get("update", {}).get("type") == update["type"]
            and previous["item_id"] == event["item_id"]
        ):
            joined = previous["update"]["delta"] + update["delta"]
            out[-1] = {**previous, "update": {**previous["update"], "delta": joined}}
            continue
        out.append(event)
    return out


def refusals_alike(transcript: Transcript, target: TargetName) -> Transcript:
    """Ours refuses with a 4xx JSON error before any stream; the SDK raises, which
    is a bare 500 (JSON ops) or a dropped connection (streaming ops)."""

    def visit(d: dict[str, Any]) -> dict[str, Any]:
        if set(d) == {"refused"}:
            return {"refused": True}
        return d

    return _map_steps(transcript, visit)


ID_RE = re.compile(
    r"\b(?:thr|msg|wf|fc|call|task|atc|tsk|tc|shcx|cti|run)_[A-Za-z0-9]{6,}\b"
)


def numbered_ids(transcript: Transcript, target: TargetName) -> Transcript:
    """Ours mints its own ids (prefix + 32 hex); the SDK's are 8 hex, or the
    model's. Every id becomes ``<id N>``, N by first appearance."""
    text = json.dumps([vars(step) for step in transcript])
    numbers: dict[str, int] = {}

    def number(found: re.Match[str]) -> str:
        return f"<id {numbers.setdefault(found.group(0), len(numbers) + 1)}>"

    return [Step(**step) for step in json.loads(ID_RE.sub(number, text))]


Normaliser = Callable[[Transcript, TargetName], Transcript]

ALLOWED_DIFFERENCES: list[Normaliser] = [
    without_timestamps,
    without_titles,
    without_tool_activity,
    merged_text_deltas,
    refusals_alike,
    numbered_ids,
]
"""Applied in this order (ids last: dropped items must not take a number)."""


def normalised(transcript: Transcript, target: Target) -> Transcript:
    """The transcript with every allowed difference normalised away."""
    for normalise in ALLOWED_DIFFERENCES:
        transcript = normalise(transcript, target.name)
    return transcript
