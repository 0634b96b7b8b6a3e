"""Compact views of ChatKit streams and items, for order assertions and transcripts."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, assert_never

import httpx
import pytest
from chatkit.types import (
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
)
from pydantic import BaseModel

from testkit.chatkit_client import ChatKitClient
from testkit.chatkit_sse import ChatKitStream

from .targets import Target

# Updates that come in runs of any length: ours coalesces text deltas (~30 ms),
# the SDK forwards each model delta; one entry stands for the whole run.
RUN_UPDATES = frozenset(
    {
        "assistant_message.content_part.text_delta",
        "widget.streaming_text.value_delta",
    }
)


def _entry(event: ThreadStreamEvent) -> str:
    match event.type:
        case "thread.item.added" | "thread.item.done" | "thread.item.replaced":
            return f"{event.type}:{event.item.type}"
        case "thread.item.updated":
            return f"updated:{event.update.type}"
        case "error":
            # Validated from JSON the code is a plain string or an ErrorCode.
            return f"error:{getattr(event.code, 'value', event.code)}"
        case _:
            return event.type


def signature(events: Sequence[ThreadStreamEvent]) -> list[str]:
    """``type[:item type]`` per event; a run of text deltas is one entry."""
    entries: list[str] = []
    for event in events:
        entry = _entry(event)
        if (
            entries
            and entry == entries[-1]
            and entry.removeprefix("updated:") in RUN_UPDATES
        ):
            continue
        entries.append(entry)
    return entries


TEXT_MESSAGE = [
    "thread.item.added:assistant_message",
    "updated:assistant_message.content_part.added",
    "updated:assistant_message.content_part.text_delta",
    "updated:assistant_message.content_part.done",
    "thread.item.done:assistant_message",
]
"""One streamed assistant message, as both targets stream it."""

TOOL_WORKFLOW = [
    "thread.item.added:workflow",
    "updated:workflow.task.updated",
    "thread.item.done:workflow",
]
"""Ours only: one server tool call shown as a workflow item with one task."""


def done_items(stream: ChatKitStream) -> list[ThreadItem]:
    """Items of the stream's ``thread.item.done`` events, in order."""
    return [e.item for e in stream.events if isinstance(e, ThreadItemDoneEvent)]


def replaced_items(stream: ChatKitStream) -> list[ThreadItem]:
    """Items of the stream's ``thread.item.replaced`` events, in order."""
    return [e.item for e in stream.events if isinstance(e, ThreadItemReplacedEvent)]


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def widget_actions(item: ThreadItem, action_type: str) -> list[dict[str, Any]]:
    """Every action config of ``action_type`` anywhere in a widget item."""
    tree = item.model_dump(mode="json")
    return [
        node
        for node in _walk(tree.get("widget"))
        if node.get("type") == action_type and "payload" in node
    ]


SdkFailure = Literal["dropped", "crash", "empty_stream"]
"""How the SDK's server answers a request it cannot serve:
``dropped``: a streaming op raised after the 200 headers, the connection closes
mid-body; ``crash``: a JSON op raised, the web framework answers a bare 500;
``empty_stream``: a 200 stream with no events at all."""


async def assert_refused(
    target: Target,
    client: ChatKitClient,
    body: BaseModel | Mapping[str, Any],
    *,
    ours: tuple[int, str | None],
    sdk: SdkFailure,
) -> None:
    """Ours answers ``ours`` (status, error code) as JSON; the SDK fails as ``sdk``.

    Ours refuses before any stream on purpose: a 4xx JSON error can be shown and
    logged; a dropped connection cannot be told apart from a network failure.
    """
    if target.ours:
        response = await client.post(body)
        status, error = ours
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        if error is not None:
            assert response.json()["error"] == error, response.text
        return
    match sdk:
        case "dropped":
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(body)
        case "crash":
            response = await client.post(body)
            assert response.status_code == 500, response.text
        case "empty_stream":
            stream = await client.stream(body)
            assert stream.events == []
        case _:
            assert_never(sdk)
