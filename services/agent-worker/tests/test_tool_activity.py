"""tool_activity.py: one workflow item per turn, one task per call, records kept."""

from datetime import UTC, datetime

from agents import Agent, StopAtTools
from agents.tool_context import ToolContext
from chatkit.agents import AgentContext
from chatkit.types import (
    CustomTask,
    ThreadItemAddedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from pydantic import PrivateAttr

from agent_worker.tool_activity import ToolActivityHooks
from agent_worker.tools import TASK_TOOLS
from agent_worker.turn_context import TurnContext
from agent_worker.turn_store import TurnStore
from shared.history_client import HistoryClient

AGENT: Agent[AgentContext[TurnContext]] = Agent(name="test")
TOOL = TASK_TOOLS[0]
(TIMEZONE_TOOL,) = [tool for tool in TASK_TOOLS if tool.name == "get_user_timezone"]


class RecordingContext(AgentContext[TurnContext]):
    """An AgentContext that keeps what is streamed instead of queueing it."""

    _streamed: list[ThreadStreamEvent] = PrivateAttr(default_factory=list)

    async def stream(self, event: ThreadStreamEvent) -> None:
        self._streamed.append(event)


def _context() -> RecordingContext:
    history = HistoryClient("http://127.0.0.1:9")
    return RecordingContext(
        thread=ThreadMetadata(id="thr_hooks", created_at=datetime.now(UTC)),
        store=TurnStore.for_turn(history),
        request_context=TurnContext(user_id="u", run_id="run_x", history=history),
    )


def _call(
    context: RecordingContext, call_id: str, name: str
) -> ToolContext[AgentContext[TurnContext]]:
    return ToolContext(
        context, tool_name=name, tool_call_id=call_id, tool_arguments='{"a": 1}'
    )


async def test_parallel_calls_share_one_workflow_and_keep_their_start_order() -> None:
    context, hooks = _context(), ToolActivityHooks()
    first, second = _call(context, "c1", "add_task"), _call(context, "c2", "list_tasks")

    await hooks.on_tool_start(first, AGENT, TOOL)
    await hooks.on_tool_start(second, AGENT, TOOL)
    await hooks.on_tool_end(second, AGENT, TOOL, "second done")
    await hooks.on_tool_end(first, AGENT, TOOL, {"first": "done"})

    added, task_added, *task_updates = context._streamed
    assert isinstance(added, ThreadItemAddedEvent)
    assert isinstance(added.item, WorkflowItem)
    assert context.workflow_item is added.item
    assert isinstance(task_added, ThreadItemUpdatedEvent)
    assert isinstance(task_added.update, WorkflowTaskAdded)
    assert [
        u.update.task_index
        for u in task_updates
        if isinstance(u, ThreadItemUpdatedEvent)
        and isinstance(u.update, WorkflowTaskUpdated)
    ] == [1, 0]
    records = hooks.records_for(added.item.id)
    assert [(r.call_id, r.output) for r in records] == [
        ("c1", '{"first": "done"}'),
        ("c2", "second done"),
    ]
    tasks = added.item.workflow.tasks
    assert all(
        isinstance(t, CustomTask) and t.status_indicator == "complete" for t in tasks
    )


async def test_added_event_publishes_the_workflow_as_it_was_when_the_call_started() -> (
    None
):
    context, hooks = _context(), ToolActivityHooks()
    await hooks.on_tool_start(_call(context, "c1", "add_task"), AGENT, TOOL)
    await hooks.on_tool_start(_call(context, "c2", "list_tasks"), AGENT, TOOL)
    added = context._streamed[0]

    shown = hooks.claim(added)

    assert shown is not None
    assert isinstance(shown.event, ThreadItemAddedEvent)
    assert isinstance(shown.event.item, WorkflowItem)
    assert len(shown.event.item.workflow.tasks) == 1
    assert (shown.tool.phase, shown.tool.call_id, shown.tool.name) == (
        "call",
        "c1",
        "add_task",
    )
    assert hooks.claim(added) is None


async def test_tools_the_agent_stops_at_are_neither_shown_nor_recorded() -> None:
    context, hooks = _context(), ToolActivityHooks()
    stopper: Agent[AgentContext[TurnContext]] = Agent(
        name="stopper",
        tool_use_behavior=StopAtTools(stop_at_tool_names=["get_user_timezone"]),
    )
    call = _call(context, "c1", "get_user_timezone")

    await hooks.on_tool_start(call, stopper, TIMEZONE_TOOL)
    await hooks.on_tool_end(call, stopper, TIMEZONE_TOOL, "asked")

    assert context._streamed == []
    assert context.workflow_item is None


async def test_call_ending_after_its_workflow_closed_replaces_the_workflow() -> None:
    context, hooks = _context(), ToolActivityHooks()
    call = _call(context, "c1", "show_tasks")
    await hooks.on_tool_start(call, AGENT, TOOL)
    workflow = context.workflow_item
    assert workflow is not None
    # What stream_agent_response does when the tool streams a widget.
    context.workflow_item = None

    await hooks.on_tool_end(call, AGENT, TOOL, "shown")

    replaced = context._streamed[-1]
    assert isinstance(replaced, ThreadItemReplacedEvent)
    assert replaced.item.id == workflow.id
    assert isinstance(replaced.item, WorkflowItem)
    (task,) = replaced.item.workflow.tasks
    assert isinstance(task, CustomTask)
    assert task.status_indicator == "complete"
    shown = hooks.claim(replaced)
    assert shown is not None
    assert (shown.tool.phase, shown.tool.result) == ("result", "shown")
    assert [r.call_id for r in hooks.records_for(workflow.id)] == ["c1"]
