"""What the offline demo model answers: a tiny rule set over the last input item."""

import json
import re
from dataclasses import dataclass

from agents import TResponseInputItem

LABEL = "[offline demo model]"

_COMMANDS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"^\s*add (?:a )?task:?\s+(?P<arg>.+?)\s*$", re.I),
        "add_task",
        "title",
    ),
    (re.compile(r"^\s*(?:list|show)(?: my)? tasks\s*$", re.I), "list_tasks", ""),
    (
        re.compile(r"^\s*complete task\s+(?P<arg>\S+)\s*$", re.I),
        "complete_task",
        "task_id",
    ),
    (re.compile(r"^\s*delete task\s+(?P<arg>\S+)\s*$", re.I), "delete_task", "task_id"),
]

HELP = (
    "No model key is configured, so this answer is scripted. Set OPENAI_API_KEY, "
    "OPENAI_BASE_URL or GEMINI_API_KEY for a real model. Try 'add task buy milk', "
    "'list tasks', 'complete task <id>' or 'delete task <id>'."
)


@dataclass(frozen=True)
class DemoCall:
    """The demo model decides to call a tool."""

    name: str
    arguments: str


@dataclass(frozen=True)
class DemoText:
    """The demo model answers with text."""

    text: str


def decide(
    items: str | list[TResponseInputItem], tool_names: set[str]
) -> DemoCall | DemoText:
    """The demo model's next move for this input."""
    if isinstance(items, str):
        return _answer_user(items, tool_names)
    if not items:
        return DemoText(f"{LABEL} Hello! {HELP}")
    last = items[-1]
    if _get(last, "type") == "function_call_output":
        return DemoText(f"{LABEL} The tool answered: {_text(_get(last, 'output'))}")
    return _answer_user(_last_user_text(items), tool_names)


def _answer_user(text: str, tool_names: set[str]) -> DemoCall | DemoText:
    for pattern, tool, arg_name in _COMMANDS:
        match = pattern.match(text)
        if match and tool in tool_names:
            arguments = {arg_name: match["arg"]} if arg_name else {}
            return DemoCall(name=tool, arguments=json.dumps(arguments))
    return DemoText(f"{LABEL} You said: {text.strip()!r}. {HELP}")


def _last_user_text(items: list[TResponseInputItem]) -> str:
    for item in reversed(items):
        if _get(item, "role") == "user":
            return _text(_get(item, "content"))
    return ""


def _get(item: object, key: str) -> object:
    if isinstance(item, dict):
        return item.get(key)
    return getattr(item, key, None)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(_get(part, "text") or "") for part in content)
    return "" if content is None else str(content)
