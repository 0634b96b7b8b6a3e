"""The default app (the task assistant and its card actions), and AGENT's app."""

from agents import Agent, StopAtTools
from agents.models.interface import Model

from .actions import task_action, task_sync_action
from .agent_app import AgentApp, AppAgent, load_app
from .interactive_tools import TURN_ENDING_TOOLS
from .tools import TASK_TOOLS
from .turn_context import TurnAgentContext

TaskAgent = AppAgent
"""The default agent's type (an app's agent type; the name predates apps)."""

INSTRUCTIONS = """\
You are a helpful assistant that keeps the user's task list.
Use the tools to add, list, complete, update and delete tasks; never invent
task ids: call list_tasks when you need one. After a tool call, tell the user
briefly what changed. Call show_tasks when the user wants to see the list,
ask_priority when a task's priority should be set, and get_user_timezone when
the answer depends on the user's time zone. Answer other questions directly and
concisely."""


def default_agent(model: Model) -> TaskAgent:
    """The task assistant; it stops at the tools the user answers."""
    return Agent[TurnAgentContext](
        name="Task assistant",
        instructions=INSTRUCTIONS,
        tools=list(TASK_TOOLS),
        model=model,
        tool_use_behavior=StopAtTools(stop_at_tool_names=list(TURN_ENDING_TOOLS)),
    )


def default_app(model: Model) -> AgentApp:
    """The task assistant with the task-list card's action handlers."""
    return AgentApp(
        agent=default_agent(model), action=task_action, sync_action=task_sync_action
    )


def build_app(spec: str, model: Model) -> AgentApp:
    """AGENT's app when configured, otherwise the default app."""
    return load_app(spec, model) if spec else default_app(model)


def load_agent(spec: str, model: Model) -> TaskAgent:
    """The agent of the app named by `module:attr`, on `model` unless its own."""
    return load_app(spec, model).agent


def build_agent(spec: str, model: Model) -> TaskAgent:
    """The agent of AGENT's app, or the task assistant."""
    return build_app(spec, model).agent
