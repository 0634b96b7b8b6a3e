"""The worker's default agent app, imported as the reference server runs it.

Same agent, same tools, same action handlers as our workers: only the server
around them differs, which is what the conformance suite compares.
"""

from agents.models.interface import Model

from agent_worker.agent import default_app
from agent_worker.agent_app import AgentApp


def load_agent_app(model: Model) -> AgentApp:
    """The worker's default agent app on ``model``."""
    return default_app(model)
