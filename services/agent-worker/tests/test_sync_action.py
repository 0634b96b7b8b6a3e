"""sync_action.py: the `sync_custom_action` job replies with its result, stored."""

from typing import Any

from chatkit.actions import Action
from chatkit.types import WidgetItem

from agent_worker.task_widget import task_list_card
from shared.history_api import TaskCreate
from shared.ids import new_id
from shared.jobs import SYNC_ACTION_JOB, SyncActionJob, SyncActionReply

from .harness import Conversation, Harness


def _job(
    conversation: Conversation, action_type: str, item_id: str | None, **payload: Any
) -> SyncActionJob:
    return SyncActionJob(
        thread_id=conversation.thread_id,
        user_id=conversation.user_id,
        request_id=new_id("req"),
        item_id=item_id,
        action=Action[str, Any](type=action_type, payload=payload),
    )


async def _sync(harness: Harness, job: SyncActionJob) -> SyncActionReply:
    return SyncActionReply.model_validate(await harness.call(SYNC_ACTION_JOB, job))


async def test_toggle_job_returns_the_rerendered_card_and_stores_it(
    fake_harness: Harness,
) -> None:
    conversation = fake_harness.conversation()
    history = fake_harness.history
    task = await history.create_task(conversation.user_id, TaskCreate(title="milk"))
    _, card, _ = (await conversation.say("show my tasks")).done
    assert isinstance(card, WidgetItem)

    reply = await _sync(
        fake_harness, _job(conversation, "tasks.toggle", card.id, task_id=task.id)
    )

    assert reply.error is None
    assert isinstance(reply.updated_item, WidgetItem)
    assert reply.updated_item.id == card.id
    (toggled,) = (await history.list_tasks(conversation.user_id)).data
    assert toggled.done is True
    assert reply.updated_item.widget == task_list_card([toggled])
    stored = await history.get_item(
        conversation.user_id, conversation.thread_id, card.id
    )
    assert stored.item == reply.updated_item


async def test_sync_job_refuses_unknown_actions_and_non_widget_items(
    fake_harness: Harness,
) -> None:
    conversation = fake_harness.conversation()
    turn = await conversation.say("hello")
    page = await fake_harness.history.list_items(
        conversation.user_id, conversation.thread_id
    )
    user_item_id = page.data[0].item.id
    assert turn.run.status == "completed"

    unknown = await _sync(fake_harness, _job(conversation, "tasks.nope", None))
    not_widget = await _sync(
        fake_harness, _job(conversation, "tasks.toggle", user_item_id, task_id="x")
    )
    gone = await _sync(
        fake_harness, _job(conversation, "tasks.toggle", "msg_nosuch", task_id="x")
    )

    assert unknown == SyncActionReply(error="Unknown action tasks.nope.")
    assert not_widget == SyncActionReply(error="The action's item is not a widget.")
    assert gone == SyncActionReply(
        error="The conversation or the item no longer exists."
    )
