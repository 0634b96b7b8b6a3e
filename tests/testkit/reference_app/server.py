"""ReferenceServer: the official ``ChatKitServer`` running the worker's agent app.

``respond`` follows the SDK's documented recipe: the thread's items through
``ThreadItemConverter``, ``Runner.run_streamed``, ``stream_agent_response``.
Everything else (routing, persistence, event order, errors) is the SDK's own.
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents import Runner
from chatkit.actions import Action
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer
from chatkit.types import (
    Attachment,
    AudioInput,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
    WidgetItem,
)
from openai import AsyncOpenAI
from openai.types.responses import ResponseInputContentParam

from agent_worker.agent_app import AgentApp
from agent_worker.turn_context import TurnContext
from shared.history_client import HistoryClient
from testkit.reference_app.attachment_store import MemoryAttachmentStore
from testkit.reference_app.memory_store import MemoryStore

ITEMS_PAGE = 100


class AttachmentConverter(ThreadItemConverter):
    """The SDK's converter; attachments become ``input_image``/``input_file`` parts."""

    def __init__(self, attachments: MemoryAttachmentStore[Any]) -> None:
        self._attachments = attachments

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        """An image as ``input_image``, anything else as ``input_file``."""
        data_url = self._attachments.data_url(attachment)
        if attachment.type == "image":
            return {"type": "input_image", "image_url": data_url, "detail": "auto"}
        return {
            "type": "input_file",
            "file_data": data_url,
            "filename": attachment.name,
        }


class ReferenceServer(ChatKitServer[TurnContext]):
    """ChatKitServer with in-memory stores and the worker's agent app."""

    def __init__(
        self,
        store: MemoryStore[TurnContext],
        attachments: MemoryAttachmentStore[TurnContext],
        app: AgentApp,
        openai: AsyncOpenAI,
        transcribe_model: str,
    ) -> None:
        super().__init__(store, attachments)
        self.memory = store
        self._app = app
        self._openai = openai
        self._transcribe_model = transcribe_model
        self._converter = AttachmentConverter(attachments)

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: TurnContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run the agent on the whole thread and stream its ChatKit events."""
        items = await self._thread_items(thread.id, context)
        agent_context: AgentContext[TurnContext] = AgentContext(
            thread=thread, store=self.store, request_context=context
        )
        result = Runner.run_streamed(
            self._app.agent,
            await self._converter.to_agent_input(items),
            context=agent_context,
        )
        async for event in stream_agent_response(agent_context, result):
            yield event

    async def _thread_items(
        self, thread_id: str, context: TurnContext
    ) -> list[ThreadItem]:
        items: list[ThreadItem] = []
        after: str | None = None
        while True:
            page = await self.store.load_thread_items(
                thread_id, after, ITEMS_PAGE, "asc", context
            )
            items.extend(page.data)
            if not page.has_more:
                return items
            after = page.after

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: TurnContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The app's action handler; without one, the SDK's NotImplementedError."""
        handler = self._app.action
        if handler is None:
            async for event in super().action(thread, action, sender, context):
                yield event
            return
        async for event in handler(thread, action, sender, context):
            yield event

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: TurnContext,
    ) -> SyncCustomActionResponse:
        """The app's sync handler; its refusal raises, as the SDK has no other way."""
        handler = self._app.sync_action
        if handler is None:
            return await super().sync_action(thread, action, sender, context)
        reply = await handler(thread, action, sender, context)
        if reply.error is not None:
            raise ValueError(reply.error)
        return SyncCustomActionResponse(updated_item=reply.updated_item)

    async def transcribe(
        self, audio_input: AudioInput, context: TurnContext
    ) -> TranscriptionResult:
        """Speech to text through the model server's transcription endpoint."""
        extension = audio_input.media_type.partition("/")[2] or "webm"
        answer = await self._openai.audio.transcriptions.create(
            model=self._transcribe_model,
            file=(f"audio.{extension}", audio_input.data, audio_input.media_type),
        )
        return TranscriptionResult(text=answer.text)


def new_request_context(user_id: str, history: HistoryClient) -> TurnContext:
    """The context of one request: the user, a fresh run id, the history client."""
    return TurnContext(
        user_id=user_id, run_id=f"run_{uuid.uuid4().hex}", history=history
    )
