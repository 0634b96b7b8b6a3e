"""The items of an active run that are not stored yet, folded from its log.

A reloaded page asks ``threads.get_by_id`` while the answer is still being
written. Items the run added but has not finished (``thread.item.added``
without ``thread.item.done``) exist only in the run's log; folding the log
gives them as they are now: text deltas appended, content parts and workflow
tasks added or updated, replaced items replaced, removed ones gone.
"""

from collections.abc import Iterable

import structlog
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    GeneratedImageItem,
    GeneratedImageUpdated,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdate,
    ThreadItemUpdatedEvent,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.views import is_hidden
from shared import run_log
from shared.events import RunEnded, RunEvent

log = structlog.get_logger(__name__)

TextUpdate = (
    AssistantMessageContentPartAdded
    | AssistantMessageContentPartTextDelta
    | AssistantMessageContentPartAnnotationAdded
    | AssistantMessageContentPartDone
)


def fold(messages: Iterable[RunEvent | RunEnded]) -> list[ThreadItem]:
    """The items added but not done in ``messages``, with their updates applied."""
    partial: dict[str, ThreadItem] = {}
    for message in messages:
        if not isinstance(message, RunEvent):
            continue
        event = message.event
        match event:
            case ThreadItemAddedEvent():
                partial[event.item.id] = event.item
            case ThreadItemUpdatedEvent() if event.item_id in partial:
                partial[event.item_id] = apply(partial[event.item_id], event.update)
            case ThreadItemReplacedEvent() if event.item.id in partial:
                partial[event.item.id] = event.item
            case ThreadItemDoneEvent():
                partial.pop(event.item.id, None)
            case ThreadItemRemovedEvent():
                partial.pop(event.item_id, None)
    return [item for item in partial.values() if not is_hidden(item)]


def apply(item: ThreadItem, update: ThreadItemUpdate) -> ThreadItem:
    """``item`` after one ``thread.item.updated`` (updates it cannot take: as is)."""
    match item, update:
        case AssistantMessageItem(), (
            AssistantMessageContentPartAdded()
            | AssistantMessageContentPartTextDelta()
            | AssistantMessageContentPartAnnotationAdded()
            | AssistantMessageContentPartDone()
        ):
            return _apply_text(item, update)
        case WorkflowItem(), WorkflowTaskAdded() | WorkflowTaskUpdated():
            return _apply_task(item, update)
        case GeneratedImageItem(), GeneratedImageUpdated():
            return item.model_copy(update={"image": update.image})
        case _:
            # Widget streaming updates: the stored widget comes with its done.
            return item


def _apply_text(item: AssistantMessageItem, update: TextUpdate) -> AssistantMessageItem:
    content = list(item.content)
    index = update.content_index
    while len(content) <= index:
        content.append(AssistantMessageContent(text=""))
    part = content[index]
    match update:
        case AssistantMessageContentPartAdded() | AssistantMessageContentPartDone():
            part = update.content
        case AssistantMessageContentPartTextDelta():
            part = part.model_copy(update={"text": part.text + update.delta})
        case AssistantMessageContentPartAnnotationAdded():
            annotations = list(part.annotations)
            annotations.insert(update.annotation_index, update.annotation)
            part = part.model_copy(update={"annotations": annotations})
    content[index] = part
    return item.model_copy(update={"content": content})


def _apply_task(
    item: WorkflowItem, update: WorkflowTaskAdded | WorkflowTaskUpdated
) -> WorkflowItem:
    tasks = list(item.workflow.tasks)
    index = update.task_index
    if isinstance(update, WorkflowTaskAdded) or index >= len(tasks):
        tasks.insert(index, update.task)
    else:
        tasks[index] = update.task
    workflow = item.workflow.model_copy(update={"tasks": tasks})
    return item.model_copy(update={"workflow": workflow})


async def active_run_items(redis: Redis, run_id: str) -> list[ThreadItem]:
    """The unfinished items of an active run (none if its log cannot be read)."""
    try:
        return fold(await run_log.read_after(redis, run_id, 0))
    except (RedisError, OSError, ValidationError) as exc:
        # The stored items still answer; only the answer so far is missing.
        log.warning("partial_items_unavailable", run_id=run_id, error=str(exc))
        return []
