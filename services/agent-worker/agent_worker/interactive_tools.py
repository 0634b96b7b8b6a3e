"""Tools that end the turn waiting for the user: a client tool and a question.

- `get_user_timezone` is a client tool: it sets `AgentContext.client_tool_call`,
  so `chatkit.agents.stream_agent_response` ends the turn with a pending
  `client_tool_call` item; the browser answers with
  `threads.add_client_tool_output` and the next turn sees the call and output.
- `ask_priority` streams a pending single-choice `structured_input` item;
  `threads.add_structured_input` answers it and the next turn sees the answer.

The agent must stop at both (`StopAtTools` with `TURN_ENDING_TOOLS`): their own
return value is no answer for the model to continue from.
"""

from datetime import UTC, datetime

from agents import RunContextWrapper, function_tool
from chatkit.agents import ClientToolCall
from chatkit.types import (
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadItemDoneEvent,
)

from .turn_context import TurnAgentContext

Ctx = RunContextWrapper[TurnAgentContext]

TIMEZONE_TOOL = "get_user_timezone"
PRIORITY_TOOL = "ask_priority"
TURN_ENDING_TOOLS = (TIMEZONE_TOOL, PRIORITY_TOOL)
"""Tools the default agent stops at: the user answers them, not the tool."""

PRIORITY_INPUT_ID = "priority"
PRIORITIES = ("low", "medium", "high")


@function_tool(name_override=TIMEZONE_TOOL)
async def get_user_timezone(ctx: Ctx) -> str:
    """Ask the user's browser for its IANA time zone (e.g. Europe/Paris)."""
    ctx.context.client_tool_call = ClientToolCall(name=TIMEZONE_TOOL, arguments={})
    return "asked the browser for the time zone"


@function_tool(name_override=PRIORITY_TOOL)
async def ask_priority(ctx: Ctx, task_title: str) -> str:
    """Ask the user which priority a task should have (low, medium or high).

    Args:
        task_title: Title of the task the priority is for.
    """
    await ctx.context.stream(
        ThreadItemDoneEvent(item=priority_question(ctx.context, task_title))
    )
    return "asked the user for the priority"


def priority_question(
    context: TurnAgentContext, task_title: str
) -> StructuredInputItem:
    """A pending single-choice question: the priority of `task_title`."""
    question = StructuredInputMultipleChoice(
        id=PRIORITY_INPUT_ID,
        question=f'Which priority should "{task_title}" have?',
        options=[StructuredInputMultipleChoiceOption(value=p) for p in PRIORITIES],
        multiple=False,
    )
    return StructuredInputItem(
        id=context.generate_id("message"),
        thread_id=context.thread.id,
        created_at=datetime.now(UTC),
        inputs=[question],
    )
