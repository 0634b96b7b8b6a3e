"""Widget actions: ``threads.custom_action`` (streaming) and ``.sync_custom_action``."""

import uuid
from dataclasses import dataclass
from typing import Any

from chatkit.actions import Action
from chatkit.types import (
    AssistantMessageItem,
    ErrorEvent,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
    WidgetItem,
)

from testkit.chatkit_client import ChatKitClient

from .frames import (
    assert_refused,
    done_items,
    replaced_items,
    signature,
    widget_actions,
)
from .targets import Target

COMPLETE = "tasks.complete"
TOGGLE = "tasks.toggle"


@dataclass(frozen=True)
class TaskCard:
    """A thread whose last turn showed the task-list card with one open task."""

    thread_id: str
    widget: WidgetItem
    task_id: str
    title: str


async def task_card(client: ChatKitClient) -> TaskCard:
    """Add a task, then ask to see the tasks: the agent streams the card."""
    title = f"water plant {uuid.uuid4().hex[:6]}"
    added = await client.create_thread(f"add task {title}")
    assert added.thread_id is not None
    shown = await client.add_user_message(added.thread_id, "show my tasks")
    widgets = [item for item in done_items(shown) if isinstance(item, WidgetItem)]
    assert len(widgets) == 1, signature(shown.events)
    [complete] = widget_actions(widgets[0], COMPLETE)
    task_id = complete["payload"]["task_id"]
    assert widget_actions(widgets[0], TOGGLE)[0]["payload"] == {"task_id": task_id}
    return TaskCard(added.thread_id, widgets[0], task_id, title)


def action(action_type: str, task_id: str | None) -> Action[str, Any]:
    payload = {"task_id": task_id} if task_id is not None else None
    return Action[str, Any](type=action_type, payload=payload)


def action_params(
    thread_id: str, item_id: str | None, action_type: str, task_id: str | None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "thread_id": thread_id,
        "action": action(action_type, task_id).model_dump(),
    }
    if item_id is not None:
        params["item_id"] = item_id
    return {"params": params}


async def test_show_my_tasks_streams_a_card_whose_buttons_carry_the_task(
    target: Target, client: ChatKitClient
) -> None:
    card = await task_card(client)
    assert card.widget.widget.type == "Card"
    assert card.title in (card.widget.copy_text or "")
    [toggle] = widget_actions(card.widget, TOGGLE)
    assert toggle["streaming"] is False
    [complete] = widget_actions(card.widget, COMPLETE)
    assert complete["streaming"] is True
    items = (await client.list_items(card.thread_id, order="asc")).data
    assert card.widget in items


async def test_a_streaming_action_replaces_the_card_and_adds_a_message(
    client: ChatKitClient,
) -> None:
    card = await task_card(client)

    stream = await client.custom_action(
        card.thread_id, card.widget.id, action(COMPLETE, card.task_id)
    )

    assert signature(stream.events) == [
        "stream_options",
        "thread.item.replaced:widget",
        "thread.item.done:assistant_message",
    ]
    [updated] = replaced_items(stream)
    assert isinstance(updated, WidgetItem)
    assert updated.id == card.widget.id
    assert widget_actions(updated, COMPLETE) == []
    message = done_items(stream)[-1]
    assert message.type == "assistant_message"
    assert [part.text for part in message.content] == [f"Marked {card.title} as done."]
    newest = (await client.list_items(card.thread_id, limit=50, order="desc")).data
    assert newest[0] == message
    assert updated in newest
    assert card.widget not in newest


async def test_an_unknown_streaming_action_ends_in_a_custom_error_event(
    client: ChatKitClient,
) -> None:
    card = await task_card(client)
    before = (await client.list_items(card.thread_id, order="asc")).data

    stream = await client.custom_action(
        card.thread_id, card.widget.id, action("tasks.explode", card.task_id)
    )

    assert signature(stream.events) == ["stream_options", "error:custom"]
    error = stream.events[-1]
    assert isinstance(error, ErrorEvent)
    assert error.message == "Unknown action tasks.explode."
    assert error.allow_retry is False
    assert (await client.list_items(card.thread_id, order="asc")).data == before


async def test_a_streaming_action_from_a_non_widget_item_is_refused(
    target: Target, client: ChatKitClient
) -> None:
    stream = await client.create_thread("hello")
    assert stream.thread_id is not None
    user = done_items(stream)[0]
    req = ThreadsCustomActionReq.model_validate(
        action_params(stream.thread_id, user.id, COMPLETE, "task_x")
    )
    if target.ours:
        # Ours checks the sender before any stream: a 4xx JSON error.
        await assert_refused(target, client, req, ours=(422, None), sdk="dropped")
        return
    # The SDK streams one error event, without even stream_options.
    refused = await client.stream(req)
    assert signature(refused.events) == ["error:stream.error"]
    error = refused.events[0]
    assert isinstance(error, ErrorEvent)
    assert error.allow_retry is False


async def test_a_streaming_action_on_an_unknown_item_or_foreign_thread_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    card = await task_card(client)
    missing = ThreadsCustomActionReq.model_validate(
        action_params(card.thread_id, f"msg_{uuid.uuid4().hex}", COMPLETE, card.task_id)
    )
    # The SDK's load_item raises after the 200 headers: the connection drops.
    await assert_refused(
        target, client, missing, ours=(404, "not_found"), sdk="dropped"
    )
    foreign = ThreadsCustomActionReq.model_validate(
        action_params(card.thread_id, card.widget.id, COMPLETE, card.task_id)
    )
    await assert_refused(
        target, intruder, foreign, ours=(404, "not_found"), sdk="dropped"
    )
    items = (await client.list_items(card.thread_id, order="asc")).data
    assert card.widget in items


async def test_a_sync_action_answers_the_updated_card(
    target: Target, client: ChatKitClient
) -> None:
    card = await task_card(client)

    answer = await client.sync_custom_action(
        card.thread_id, card.widget.id, action(TOGGLE, card.task_id)
    )

    updated = answer.updated_item
    assert isinstance(updated, WidgetItem)
    assert updated.id == card.widget.id
    assert widget_actions(updated, COMPLETE) == []
    stored = await client.list_items(card.thread_id, limit=50, order="asc")
    if target.ours:
        # Ours persists the sync result: a reload shows the card as answered.
        assert updated in stored.data
    else:
        # The SDK does not persist it: a reload would show the stale card.
        assert card.widget in stored.data


async def test_a_sync_action_that_fails_is_refused(
    target: Target, client: ChatKitClient, intruder: ChatKitClient
) -> None:
    card = await task_card(client)
    user = (await client.list_items(card.thread_id, order="asc")).data[0]
    cases = [
        # The app refuses an unknown action type: ours 422 with its message; the
        # SDK has no error reply for sync actions, so the handler's raise is a 500.
        (client, card.widget.id, "tasks.explode", (422, "action_failed")),
        # The sender is not a widget: the SDK raises ValueError (500).
        (client, user.id, TOGGLE, (422, None)),
        # Someone else's thread: the store's NotFoundError (500).
        (intruder, card.widget.id, TOGGLE, (404, "not_found")),
    ]
    for who, item_id, action_type, ours in cases:
        req = ThreadsSyncCustomActionReq.model_validate(
            action_params(card.thread_id, item_id, action_type, card.task_id)
        )
        await assert_refused(target, who, req, ours=ours, sdk="crash")
    items = (await client.list_items(card.thread_id, order="asc")).data
    assert card.widget in items


async def test_an_action_without_sender_runs_the_handler_without_a_card(
    client: ChatKitClient,
) -> None:
    card = await task_card(client)

    stream = await client.custom_action(
        card.thread_id, None, action(COMPLETE, card.task_id)
    )

    assert signature(stream.events) == [
        "stream_options",
        "thread.item.done:assistant_message",
    ]
    message = done_items(stream)[-1]
    assert isinstance(message, AssistantMessageItem)
    assert message.content[0].text == f"Marked {card.title} as done."
    items = (await client.list_items(card.thread_id, order="asc")).data
    assert card.widget in items
