"""ChatKit views of stored data, serialized exactly as ``ChatKitServer`` does."""

from chatkit.types import (
    HiddenContextItem,
    LockedStatus,
    Page,
    SDKHiddenContextItem,
    StreamOptions,
    StreamOptionsEvent,
    Thread,
    ThreadItem,
    ThreadMetadata,
)
from pydantic import BaseModel

from shared.history_api import ThreadRecord

LOCKED_REASON = "This conversation is still answering the previous message."


def chatkit_json(model: BaseModel) -> bytes:
    """Serialize exactly as ``ChatKitServer._serialize`` does."""
    return model.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    ).encode()


def is_hidden(item: ThreadItem) -> bool:
    """Hidden context items feed the model but are never shown to clients."""
    return isinstance(item, HiddenContextItem | SDKHiddenContextItem)


def thread_response(
    thread: ThreadMetadata, items: Page[ThreadItem] | None = None
) -> Thread:
    """A Thread as the SDK answers it: hidden items dropped, ``metadata`` empty."""
    page = items if items is not None else Page[ThreadItem]()
    page.data = [item for item in page.data if not is_hidden(item)]
    return Thread(
        id=thread.id,
        title=thread.title,
        created_at=thread.created_at,
        items=page,
        status=thread.status,
        allowed_image_domains=thread.allowed_image_domains,
    )


def stored_thread(record: ThreadRecord) -> ThreadMetadata:
    """The stored thread, shown ``locked`` while a run of it is active.

    ChatKit then disables the composer with the reason; a thread the app
    closed stays closed.
    """
    thread = record.thread
    if record.active_run_id is None or thread.status.type != "active":
        return thread
    return thread.model_copy(update={"status": LockedStatus(reason=LOCKED_REASON)})


def stream_options() -> StreamOptionsEvent:
    """The ``stream_options`` frame every op sends before the worker's events."""
    return StreamOptionsEvent(stream_options=StreamOptions(allow_cancel=True))
