"""What an agent turn knows about its caller: the request context of AgentContext."""

from dataclasses import dataclass
from typing import TypeAlias

from chatkit.agents import AgentContext

from shared.history_client import HistoryClient


@dataclass(frozen=True)
class TurnContext:
    """Request context of one run or action; chatkit stores expect `user_id`."""

    user_id: str
    history: HistoryClient
    """Shared client to history; tools use it for the user's tasks."""
    run_id: str | None = None
    """The run being served; None for a sync action, which has no run."""


TurnAgentContext: TypeAlias = AgentContext[TurnContext]
"""The run context every tool receives (as `RunContextWrapper[TurnAgentContext]`)."""
