"""The scripted model's behaviour: what it answers, decided from the request alone.

Rules, applied to the LAST input item:
- a tool result -> text ``Tool said: <output>`` (paced like the user message's
  slow marker asks, see below);
- otherwise the last user message:
  - its text contains ``[fail]`` -> HTTP 500 whose body holds a fake secret;
  - its text contains ``[slow]`` -> the usual answer, its events paced
    ``SLOW_PACE_S`` apart (a run that lasts long enough to be watched);
    ``[slow:<seconds>]`` paces them that many seconds apart instead (at most
    ``MAX_PACE_S``), for a test that needs a longer run;
  - it carries image or file parts -> text ``I see <N> attachment(s).``;
  - ``add task <title>`` / ``list tasks`` / ``complete task <id>`` /
    ``delete task <id>`` / ``what is my timezone`` (``get_user_timezone``) /
    ``set priority for <title>`` (``ask_priority``) / ``show my tasks``
    (``show_tasks``) -> a call of that tool, when the request offers it;
  - anything else -> text ``Echo: <text> (user turns: K)``, K = user messages seen.

Nothing depends on earlier requests, so parallel tests never interfere.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FAIL_MARKER = "[fail]"
FAKE_SECRET = "sk-test-SECRET-should-not-leak"
SLOW_MARKER = "[slow]"
SLOW_PACE_S = 0.1
MAX_PACE_S = 5.0
_SLOW_PATTERN = re.compile(r"\[slow(?::(?P<pace>\d+(?:\.\d+)?))?\]")

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class TextReply:
    """Answer with this text, streamed in deltas."""

    text: str
    pace_s: float = 0.0
    """Pause before each streamed event (on top of the server's own pacing)."""


@dataclass(frozen=True)
class ToolCallReply:
    """Answer with one function call."""

    name: str
    arguments: str


@dataclass(frozen=True)
class FailReply:
    """Answer with an HTTP error whose body must never reach a client."""

    status: int
    body: JSONObject


Reply = TextReply | ToolCallReply | FailReply


@dataclass(frozen=True)
class Turn:
    """What the script looks at in a request, whichever API it came through."""

    last: Literal["tool_result", "other"]
    tool_output: str
    user_text: str
    user_turns: int
    tools: Mapping[str, JSONObject] = field(default_factory=dict)
    attachments: int = 0
    """Image and file parts of the last user message."""


@dataclass(frozen=True)
class _Command:
    pattern: re.Pattern[str]
    tool: str
    argument: str | None
    """Preferred argument name; None for a call without arguments."""


_COMMANDS = (
    _Command(re.compile(r"\badd task\s+(?P<arg>.+)", re.I | re.S), "add_task", "title"),
    _Command(re.compile(r"\blist tasks\b", re.I), "list_tasks", None),
    _Command(
        re.compile(r"\bcomplete task\s+(?P<arg>\S+)", re.I), "complete_task", "task_id"
    ),
    _Command(
        re.compile(r"\bdelete task\s+(?P<arg>\S+)", re.I), "delete_task", "task_id"
    ),
    _Command(re.compile(r"\bwhat is my timezone\b", re.I), "get_user_timezone", None),
    _Command(
        re.compile(r"\bset priority for\s+(?P<arg>.+)", re.I | re.S),
        "ask_priority",
        "task_title",
    ),
    _Command(re.compile(r"\bshow my tasks\b", re.I), "show_tasks", None),
)


def decide(turn: Turn) -> Reply:
    """The reply the scripted model gives for this turn."""
    if turn.last == "tool_result":
        pace_s = slow_pace(turn.user_text)
        return TextReply(f"Tool said: {turn.tool_output}", pace_s=pace_s)
    if FAIL_MARKER in turn.user_text:
        return FailReply(500, _failure_body())
    if turn.attachments:
        return TextReply(f"I see {turn.attachments} attachment(s).")
    for command in _COMMANDS:
        match = command.pattern.search(turn.user_text)
        if match and command.tool in turn.tools:
            return ToolCallReply(command.tool, _arguments(command, match, turn))
    echo = f"Echo: {turn.user_text} (user turns: {turn.user_turns})"
    return TextReply(echo, pace_s=slow_pace(turn.user_text))


def slow_marker(pace_s: float) -> str:
    """The marker that paces an answer's events ``pace_s`` seconds apart."""
    return f"[slow:{pace_s:g}]"


def slow_pace(text: str) -> float:
    """Seconds between streamed events asked for by a slow marker in ``text``."""
    match = _SLOW_PATTERN.search(text)
    if match is None:
        return 0.0
    pace = match.group("pace")
    return min(float(pace), MAX_PACE_S) if pace else SLOW_PACE_S


def _failure_body() -> JSONObject:
    return {
        "error": {
            "message": f"upstream exploded; key {FAKE_SECRET} rejected",
            "type": "server_error",
            "code": "fake_failure",
        }
    }


def _arguments(command: _Command, match: re.Match[str], turn: Turn) -> str:
    if command.argument is None:
        return "{}"
    value = match.group("arg").strip().strip("\"'")
    name = argument_name(turn.tools[command.tool], command.argument)
    return json.dumps({name: value})


def argument_name(schema: JSONObject, preferred: str) -> str:
    """The tool's parameter that takes the value: ``preferred`` if it exists.

    Otherwise an ``...id`` parameter for id-like values, else the first required
    one, so the script fits whatever parameter names the agent's tools use.
    """
    properties = schema.get("properties") or {}
    if not properties or preferred in properties:
        return preferred
    if preferred.endswith("id"):
        for name in properties:
            if name.endswith("id"):
                return str(name)
    required = schema.get("required") or list(properties)
    return str(required[0])


def split_deltas(text: str, count: int) -> list[str]:
    """``text`` cut into at most ``count`` consecutive, non-empty pieces."""
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return [piece for piece in pieces if piece] or [text]


# --- reading requests -------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of a message content: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and "text" in part
        )
    return ""


# Content part types that carry an image or a file, in both APIs.
ATTACHMENT_PARTS = frozenset({"input_image", "input_file", "image_url", "file"})


def _attachments_in(content: Any) -> int:
    """How many image or file parts a message content holds."""
    if not isinstance(content, list):
        return 0
    return sum(
        1
        for part in content
        if isinstance(part, dict) and part.get("type") in ATTACHMENT_PARTS
    )


def chat_turn(body: JSONObject) -> Turn:
    """Read a Chat Completions request body."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    last_is_tool = bool(messages) and messages[-1].get("role") == "tool"
    tools = {
        str(t["function"]["name"]): t["function"].get("parameters") or {}
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    return Turn(
        last="tool_result" if last_is_tool else "other",
        tool_output=_text_of(messages[-1].get("content")) if last_is_tool else "",
        user_text=_text_of(users[-1].get("content")) if users else "",
        user_turns=len(users),
        tools=tools,
        attachments=_attachments_in(users[-1].get("content")) if users else 0,
    )


def responses_turn(body: JSONObject) -> Turn:
    """Read a Responses API request body."""
    raw = body.get("input")
    items: list[JSONObject] = (
        [{"role": "user", "content": raw}]
        if isinstance(raw, str)
        else [i for i in raw or [] if isinstance(i, dict)]
    )
    users = [
        i
        for i in items
        if i.get("role") == "user" and i.get("type", "message") == "message"
    ]
    last_is_tool = bool(items) and items[-1].get("type") == "function_call_output"
    tools = {
        str(t["name"]): t.get("parameters") or {}
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function" and "name" in t
    }
    return Turn(
        last="tool_result" if last_is_tool else "other",
        tool_output=_text_of(items[-1].get("output")) if last_is_tool else "",
        user_text=_text_of(users[-1].get("content")) if users else "",
        user_turns=len(users),
        tools=tools,
        attachments=_attachments_in(users[-1].get("content")) if users else 0,
    )
