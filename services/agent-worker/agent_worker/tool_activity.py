"""Show every function tool call of a turn in ChatKit and remember it for the next.

Agents SDK RunHooks see each local function tool start and end (with a ToolContext
carrying the call id, name and raw arguments), whatever agent runs. Each call
becomes a CustomTask (loading -> complete) in the turn's workflow item; the events
go through the AgentContext queue so they interleave with the model's events, and
each carries a ToolActivity for the simple SSE face. The calls with their outputs
are collected as ToolCallRecords per workflow item, to be stored on that item.

Two kinds of calls need care:
- A tool the agent stops at (`StopAtTools`) ends the turn with an item of its
  own (a pending client tool call, a question to the user) that tells the next
  turn about it: it is neither shown nor recorded (no call seen twice).
- A tool that shows an item itself (a widget) makes chatkit close the open
  workflow (`thread.item.done`) while the call runs. If the call ends before
  that done event is made, the event carries the finished task and its record;
  if after, the finished workflow follows as `thread.item.replaced`, so the
  stored copy gets the record either way.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents import Agent, RunContextWrapper, RunHooks, Tool
from agents.tool_context import ToolContext
from chatkit.types import (
    CustomTask,
    ThreadItemAddedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from typing_extensions import override

from shared.events import ToolActivity
from shared.history_api import ToolCallRecord

from .turn_context import TurnAgentContext

_SHOWN_CHARS = 200


@dataclass(frozen=True)
class ShownEvent:
    """An event to publish for a tool call, with its structured activity."""

    event: ThreadStreamEvent
    tool: ToolActivity


class ToolActivityHooks(RunHooks[TurnAgentContext]):
    """RunHooks that stream workflow tasks for tool calls and collect their records."""

    def __init__(self) -> None:
        self._shown: dict[int, tuple[ThreadStreamEvent, ShownEvent]] = {}
        self._open: dict[str, tuple[WorkflowItem, int]] = {}
        # workflow item id -> call id -> record (None until the call ends), so
        # records keep the order in which the calls started.
        self._records: dict[str, dict[str, ToolCallRecord | None]] = {}

    def claim(self, event: ThreadStreamEvent) -> ShownEvent | None:
        """What to publish for an event these hooks streamed (claimed once)."""
        entry = self._shown.pop(id(event), None)
        return entry[1] if entry is not None and entry[0] is event else None

    def records_for(self, item_id: str) -> list[ToolCallRecord]:
        """The finished tool calls shown in workflow item `item_id`, in call order."""
        calls = self._records.get(item_id, {}).values()
        return [call for call in calls if call is not None]

    @override
    async def on_tool_start(
        self,
        context: RunContextWrapper[TurnAgentContext],
        agent: Agent[TurnAgentContext],
        tool: Tool,
    ) -> None:
        """Add a loading task for the call to the turn's workflow item."""
        if not isinstance(context, ToolContext) or ends_turn(agent, tool.name):
            return
        agent_context = context.context
        task = CustomTask(
            title=context.tool_name,
            status_indicator="loading",
            content=_shorten(context.tool_arguments),
        )
        workflow, event = _add_task(agent_context, task)
        self._open[context.tool_call_id] = (workflow, len(workflow.workflow.tasks) - 1)
        self._records.setdefault(workflow.id, {})[context.tool_call_id] = None
        activity = ToolActivity(
            phase="call",
            call_id=context.tool_call_id,
            name=context.tool_name,
            arguments=context.tool_arguments,
        )
        await self._stream(agent_context, event, activity)

    @override
    async def on_tool_end(
        self,
        context: RunContextWrapper[TurnAgentContext],
        agent: Agent[TurnAgentContext],
        tool: Tool,
        result: object,
    ) -> None:
        """Complete the call's task and record the call with its output."""
        if not isinstance(context, ToolContext):
            return
        opened = self._open.pop(context.tool_call_id, None)
        if opened is None:
            return
        workflow, index = opened
        output = _output_text(result)
        task = CustomTask(
            title=context.tool_name,
            status_indicator="complete",
            content=f"{_shorten(context.tool_arguments)}\n→ {_shorten(output)}",
        )
        workflow.workflow.tasks[index] = task
        self._records[workflow.id][context.tool_call_id] = ToolCallRecord(
            call_id=context.tool_call_id,
            name=context.tool_name,
            arguments=context.tool_arguments,
            output=output,
        )
        event: ThreadStreamEvent = ThreadItemUpdatedEvent(
            item_id=workflow.id,
            update=WorkflowTaskUpdated(task=task, task_index=index),
        )
        if context.context.workflow_item is not workflow:
            # An item the tool showed (a widget) has closed the workflow
            # meanwhile: replace it, so the stored copy gets the finished call.
            event = ThreadItemReplacedEvent(item=workflow.model_copy(deep=True))
        activity = ToolActivity(
            phase="result",
            call_id=context.tool_call_id,
            name=context.tool_name,
            result=output,
        )
        await self._stream(context.context, event, activity)

    async def _stream(
        self,
        agent_context: TurnAgentContext,
        event: ThreadStreamEvent,
        activity: ToolActivity,
    ) -> None:
        published = event
        if isinstance(event, ThreadItemAddedEvent):
            # The queued event's item is the live workflow (chatkit adopts it as
            # the open workflow); publish it as it is now, not as it is when the
            # queue gets to it, or a task added meanwhile would show twice.
            published = ThreadItemAddedEvent(item=event.item.model_copy(deep=True))
        self._shown[id(event)] = (event, ShownEvent(published, activity))
        await agent_context.stream(event)


def ends_turn(agent: Agent[TurnAgentContext], tool_name: str) -> bool:
    """Whether the agent stops at this tool (`StopAtTools`)."""
    behavior = agent.tool_use_behavior
    return isinstance(behavior, dict) and tool_name in behavior["stop_at_tool_names"]


def _add_task(
    agent_context: TurnAgentContext, task: CustomTask
) -> tuple[WorkflowItem, ThreadStreamEvent]:
    """Append to the open workflow item, or open one, as AgentContext does."""
    workflow = agent_context.workflow_item
    if workflow is not None:
        workflow.workflow.tasks.append(task)
        index = len(workflow.workflow.tasks) - 1
        added = WorkflowTaskAdded(task=task, task_index=index)
        return workflow, ThreadItemUpdatedEvent(item_id=workflow.id, update=added)
    workflow = WorkflowItem(
        id=agent_context.generate_id("workflow"),
        thread_id=agent_context.thread.id,
        # Naive local time on purpose: chatkit.agents computes the workflow's
        # duration as `datetime.now() - created_at`. translate.py makes it UTC.
        created_at=datetime.now(),  # noqa: DTZ005
        workflow=Workflow(type="custom", tasks=[task]),
    )
    # stream_agent_response adopts a workflow item added through the queue as
    # the open one, and ends it when the next visible item starts.
    agent_context.workflow_item = workflow
    return workflow, ThreadItemAddedEvent(item=workflow)


def _output_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, default=str)
    except (TypeError, ValueError):
        return str(result)


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
