"""Read the fake model's recorded requests the same way for both model APIs."""

import json
from typing import Any

from testkit.fake_model import RecordedRequest, recorded_requests


def request_containing(fake_model: str, text: str) -> RecordedRequest:
    """The one request whose body mentions ``text`` last (the newest such turn)."""
    matching = [r for r in recorded_requests(fake_model) if text in json.dumps(r.body)]
    assert matching, f"no model request mentions {text!r}"
    return matching[-1]


def tool_exchanges(request: RecordedRequest) -> list[tuple[str, str]]:
    """(tool name, tool output) pairs the request's history holds, in order."""
    body = request.body
    if "messages" in body:
        return _chat_exchanges(body["messages"])
    return _responses_exchanges(body["input"])


def _chat_exchanges(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"]
        if message.get("role") == "tool":
            pairs.append((names[message["tool_call_id"]], str(message["content"])))
    return pairs


def _responses_exchanges(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    names: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for item in items:
        if item.get("type") == "function_call":
            names[item["call_id"]] = item["name"]
        elif item.get("type") == "function_call_output":
            pairs.append((names[item["call_id"]], str(item["output"])))
    return pairs
