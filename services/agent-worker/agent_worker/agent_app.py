"""An agent app: the agent a worker runs, plus optional widget-action handlers.

`AGENT=module:attr` names what the worker runs; `attr` may be

- an `agents.Agent`: it answers every turn; widget actions get a ChatKit error
  ("This agent has no action handler.");
- an `AgentApp`: its agent answers turns, its `action` handler answers
  `threads.custom_action` (streaming) and its `sync_action` handler answers
  `threads.sync_custom_action`;
- a zero-argument callable returning either of those (a factory).

An agent without its own model runs on the worker's configured model. Empty
AGENT runs the default task assistant (agent.py).

Handlers mirror `ChatKitServer.action` / `ChatKitServer.sync_action`: they get
the thread, the action, the widget item the action came from (None for an
action sent without one) and the request context (`TurnContext`: user id and the
history client). The events an action handler yields are persisted and
published like an agent turn's; raising `chatkit.errors.CustomStreamError`
shows its message to the user. A sync handler returns a `SyncActionReply`; the
worker persists its `updated_item`.
"""

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from agents import Agent
from agents.models.interface import Model
from chatkit.actions import Action
from chatkit.types import ThreadMetadata, ThreadStreamEvent, WidgetItem

from shared.jobs import SyncActionReply

from .turn_context import TurnAgentContext, TurnContext

NO_ACTION_HANDLER = "This agent has no action handler."
NO_SYNC_ACTION_HANDLER = "This agent has no sync action handler."

AnyAction: TypeAlias = Action[str, Any]

ActionHandler: TypeAlias = Callable[
    [ThreadMetadata, AnyAction, WidgetItem | None, TurnContext],
    AsyncIterator[ThreadStreamEvent],
]
"""Streaming handler of `threads.custom_action`."""

SyncActionHandler: TypeAlias = Callable[
    [ThreadMetadata, AnyAction, WidgetItem | None, TurnContext],
    Awaitable[SyncActionReply],
]
"""Handler of `threads.sync_custom_action`."""

AppAgent: TypeAlias = Agent[TurnAgentContext]


@dataclass(frozen=True)
class AgentApp:
    """The agent, and what answers widget actions (None: not supported)."""

    agent: AppAgent
    action: ActionHandler | None = None
    sync_action: SyncActionHandler | None = None

    def on_model(self, model: Model) -> "AgentApp":
        """This app, its agent running on `model` unless it names its own."""
        if self.agent.model is not None:
            return self
        return replace(self, agent=self.agent.clone(model=model))


def load_app(spec: str, model: Model) -> AgentApp:
    """The app named by `module:attr` (see the module docstring)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"AGENT must look like 'module:attr', got {spec!r}")
    target: Any = getattr(importlib.import_module(module_name), attr)
    if not isinstance(target, Agent | AgentApp) and callable(target):
        target = target()
    if isinstance(target, Agent):
        target = AgentApp(agent=target)
    if not isinstance(target, AgentApp):
        raise TypeError(f"AGENT {spec!r} is not an Agent or AgentApp nor returns one")
    return target.on_model(model)
