"""The agent both systems run: no tools, no model of its own.

Our workers load it with ``AGENT=bench.plain_agent:agent`` and give it their
configured model; the baseline clones it onto its ``OpenAIResponsesModel``.
"""

from typing import Any

from agents import Agent

agent: Agent[Any] = Agent(name="Assistant", instructions="You are a helpful assistant.")
