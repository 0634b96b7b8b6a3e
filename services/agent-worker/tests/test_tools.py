"""tools.py: real task changes in history; unknown ids come back as tool results."""

import json
from collections.abc import AsyncIterator

import pytest

from shared.history_api import ToolCallRecord

from .conftest import worker_settings
from .harness import Conversation, Harness


@pytest.fixture
async def harness(
    redis_url: str, history_url: str, worker_queue: str, fake_model: str
) -> AsyncIterator[Harness]:
    settings = worker_settings(
        redis_url, history_url, worker_queue, openai_base_url=fake_model
    )
    harness = Harness(settings)
    yield harness
    await harness.aclose()


async def _last_call(conversation: Conversation, text: str) -> ToolCallRecord:
    turn = await conversation.say(text)
    assert turn.run.status == "completed"
    page = await conversation.harness.history.list_items(
        conversation.user_id, conversation.thread_id, limit=100, order="desc"
    )
    calls = [call for record in page.data for call in record.tool_calls]
    return calls[0]


async def test_completing_an_unknown_task_answers_with_a_clear_error(
    harness: Harness,
) -> None:
    conversation = harness.conversation()

    call = await _last_call(conversation, "complete task task_nosuch")

    assert call.name == "complete_task"
    assert "no task with id 'task_nosuch'" in json.loads(call.output)["error"]


async def test_task_tools_change_the_users_task_list_in_history(
    harness: Harness,
) -> None:
    conversation = harness.conversation()

    added = json.loads((await _last_call(conversation, "add task pay rent")).output)
    task_id = added["added"]["id"]
    completed = await _last_call(conversation, f"complete task {task_id}")
    deleted = await _last_call(conversation, f"delete task {task_id}")
    tasks = await harness.history.list_tasks(conversation.user_id)

    assert json.loads(completed.output)["completed"]["done"] is True
    assert json.loads(deleted.output) == {"deleted": task_id}
    assert tasks.data == []
