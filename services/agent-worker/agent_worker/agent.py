"""The default task-assistant agent, and the AGENT=module:attr loader."""

import importlib
from typing import Any, TypeAlias

from agents import Agent
from agents.models.interface import Model

from .tools import TASK_TOOLS
from .turn_context import TurnAgentContext

TaskAgent: TypeAlias = Agent[TurnAgentContext]

INSTRUCTIONS = """\
You are a helpful assistant that keeps the user's task list.
Use the tools to add, list, complete, update and delete tasks; never invent
task ids: call list_tasks when you need one. After a tool call, tell the user
briefly what changed. Answer other questions directly and concisely."""


def default_agent(model: Model) -> TaskAgent:
    """The task assistant with the five task tools."""
    return Agent[TurnAgentContext](
        name="Task assistant",
        instructions=INSTRUCTIONS,
        tools=list(TASK_TOOLS),
        model=model,
    )


def load_agent(spec: str, model: Model) -> TaskAgent:
    """The agent named by `module:attr` (an Agent or a zero-argument factory).

    An agent without its own model runs on the worker's configured model.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"AGENT must look like 'module:attr', got {spec!r}")
    target: Any = getattr(importlib.import_module(module_name), attr)
    if not isinstance(target, Agent) and callable(target):
        target = target()
    if not isinstance(target, Agent):
        raise TypeError(f"AGENT {spec!r} is not an Agent nor returns one")
    agent: TaskAgent = target
    return agent if agent.model is not None else agent.clone(model=model)


def build_agent(spec: str, model: Model) -> TaskAgent:
    """AGENT's agent when configured, otherwise the default task assistant."""
    return load_agent(spec, model) if spec else default_agent(model)
