"""ChatKitClient: one user talking to a ChatKit endpoint, every answer validated."""

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import httpx
from chatkit.actions import Action
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentDeleteParams,
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    FeedbackKind,
    InferenceOptions,
    InputTranscribeParams,
    InputTranscribeReq,
    ItemFeedbackParams,
    ItemsFeedbackReq,
    ItemsListParams,
    ItemsListReq,
    Page,
    StructuredInputSubmission,
    SyncCustomActionResponse,
    Thread,
    ThreadAddClientToolOutputParams,
    ThreadAddStructuredInputParams,
    ThreadAddUserMessageParams,
    ThreadCreateParams,
    ThreadCustomActionParams,
    ThreadDeleteParams,
    ThreadGetByIdParams,
    ThreadItem,
    ThreadListParams,
    ThreadRetryAfterItemParams,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadsUpdateReq,
    ThreadUpdateParams,
    TranscriptionResult,
    UserMessageInput,
    UserMessageTextContent,
)
from pydantic import BaseModel

from testkit.chatkit_sse import (
    ATTACHMENT,
    ITEM_PAGE,
    STREAM_TIMEOUT,
    SYNC_ACTION_RESPONSE,
    THREAD,
    THREAD_PAGE,
    TRANSCRIPTION,
    ChatKitStream,
    SimpleStream,
    SseRead,
    encode_body,
    expect_sse,
    parse_sse,
    read_sse,
    validate_chatkit_frames,
    validate_simple_frames,
)


def user_input(text: str, attachments: Sequence[str] = ()) -> UserMessageInput:
    """A composer input: one text part and the ids of uploaded attachments."""
    return UserMessageInput(
        content=[UserMessageTextContent(text=text)],
        attachments=list(attachments),
        inference_options=InferenceOptions(),
    )


def create_req(text: str) -> ThreadsCreateReq:
    """The ``threads.create`` request for one user text."""
    return ThreadsCreateReq(params=ThreadCreateParams(input=user_input(text)))


def add_message_req(thread_id: str, text: str) -> ThreadsAddUserMessageReq:
    """The ``threads.add_user_message`` request for one user text."""
    params = ThreadAddUserMessageParams(thread_id=thread_id, input=user_input(text))
    return ThreadsAddUserMessageReq(params=params)


class ChatKitClient:
    """Talks to one gateway's ``/chatkit`` as one user."""

    def __init__(
        self, http: httpx.AsyncClient, token: str | None, path: str = "/chatkit"
    ) -> None:
        self.http = http
        self.path = path
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def post(
        self,
        body: BaseModel | Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST any body and read the whole answer (no validation)."""
        return await self.http.post(
            self.path,
            content=encode_body(body),
            headers={
                **self.headers,
                "Content-Type": "application/json",
                **(headers or {}),
            },
            timeout=STREAM_TIMEOUT,
        )

    async def stream(
        self,
        body: BaseModel | Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> ChatKitStream:
        """POST a streaming op; expect 200 SSE; validate every frame."""
        response = await self.post(body, headers)
        expect_sse(response)
        sse = parse_sse(response.text)
        return ChatKitStream(response, sse, validate_chatkit_frames(sse))

    async def open(
        self,
        body: BaseModel | Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        stop_when: Callable[[SseRead], bool] | None = None,
        into: SseRead | None = None,
    ) -> SseRead:
        """POST a streaming op and read it as it arrives (see ``read_sse``)."""
        return await read_sse(
            self.http,
            "POST",
            self.path,
            headers={
                **self.headers,
                "Content-Type": "application/json",
                **(headers or {}),
            },
            content=encode_body(body),
            stop_when=stop_when,
            into=into,
        )

    async def create_thread(
        self, text: str, attachments: Sequence[str] = ()
    ) -> ChatKitStream:
        """``threads.create`` with one user text (and attachment ids)."""
        params = ThreadCreateParams(input=user_input(text, attachments))
        return await self.stream(ThreadsCreateReq(params=params))

    async def add_user_message(
        self, thread_id: str, text: str, attachments: Sequence[str] = ()
    ) -> ChatKitStream:
        """``threads.add_user_message``."""
        params = ThreadAddUserMessageParams(
            thread_id=thread_id, input=user_input(text, attachments)
        )
        return await self.stream(ThreadsAddUserMessageReq(params=params))

    async def add_client_tool_output(
        self, thread_id: str, result: Any
    ) -> ChatKitStream:
        """``threads.add_client_tool_output``: the browser's answer to a tool call."""
        params = ThreadAddClientToolOutputParams(thread_id=thread_id, result=result)
        return await self.stream(ThreadsAddClientToolOutputReq(params=params))

    async def add_structured_input(
        self, thread_id: str, item_id: str, submission: StructuredInputSubmission
    ) -> ChatKitStream:
        """``threads.add_structured_input``: answers to a pending form."""
        params = ThreadAddStructuredInputParams(
            thread_id=thread_id, item_id=item_id, input=submission
        )
        return await self.stream(ThreadsAddStructuredInputReq(params=params))

    async def retry_after_item(self, thread_id: str, item_id: str) -> ChatKitStream:
        """``threads.retry_after_item``."""
        params = ThreadRetryAfterItemParams(thread_id=thread_id, item_id=item_id)
        return await self.stream(ThreadsRetryAfterItemReq(params=params))

    async def custom_action(
        self, thread_id: str, item_id: str | None, action: Action[str, Any]
    ) -> ChatKitStream:
        """``threads.custom_action`` (streaming widget action)."""
        params = ThreadCustomActionParams(
            thread_id=thread_id, item_id=item_id, action=action
        )
        return await self.stream(ThreadsCustomActionReq(params=params))

    async def sync_custom_action(
        self, thread_id: str, item_id: str | None, action: Action[str, Any]
    ) -> SyncCustomActionResponse:
        """``threads.sync_custom_action``."""
        params = ThreadCustomActionParams(
            thread_id=thread_id, item_id=item_id, action=action
        )
        req = ThreadsSyncCustomActionReq(params=params)
        return SYNC_ACTION_RESPONSE.validate_json(await self._json(req))

    async def feedback(
        self, thread_id: str, item_ids: Sequence[str], kind: FeedbackKind
    ) -> None:
        """``items.feedback``; the answer is ``{}``."""
        params = ItemFeedbackParams(
            thread_id=thread_id, item_ids=list(item_ids), kind=kind
        )
        assert await self._json(ItemsFeedbackReq(params=params)) == b"{}"

    async def create_attachment(
        self, name: str, size: int, mime_type: str
    ) -> Attachment:
        """``attachments.create`` (two-phase upload: the bytes go to its URL)."""
        params = AttachmentCreateParams(name=name, size=size, mime_type=mime_type)
        return ATTACHMENT.validate_json(
            await self._json(AttachmentsCreateReq(params=params))
        )

    async def delete_attachment(self, attachment_id: str) -> None:
        """``attachments.delete``; the answer is ``{}``."""
        params = AttachmentDeleteParams(attachment_id=attachment_id)
        assert await self._json(AttachmentsDeleteReq(params=params)) == b"{}"

    async def transcribe(self, audio: bytes, mime_type: str) -> TranscriptionResult:
        """``input.transcribe`` of raw audio bytes."""
        params = InputTranscribeParams(
            audio_base64=base64.b64encode(audio).decode(), mime_type=mime_type
        )
        return TRANSCRIPTION.validate_json(
            await self._json(InputTranscribeReq(params=params))
        )

    async def get_thread(self, thread_id: str) -> Thread:
        """``threads.get_by_id``."""
        req = ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id))
        return THREAD.validate_json(await self._json(req))

    async def list_threads(
        self,
        limit: int | None = None,
        after: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> Page[Thread]:
        """``threads.list``."""
        params = ThreadListParams(limit=limit, after=after, order=order)
        return THREAD_PAGE.validate_json(
            await self._json(ThreadsListReq(params=params))
        )

    async def list_items(
        self,
        thread_id: str,
        limit: int | None = None,
        after: str | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> Page[ThreadItem]:
        """``items.list``."""
        params = ItemsListParams(
            thread_id=thread_id, limit=limit, after=after, order=order
        )
        return ITEM_PAGE.validate_json(await self._json(ItemsListReq(params=params)))

    async def update_thread(self, thread_id: str, title: str) -> Thread:
        """``threads.update`` (rename)."""
        params = ThreadUpdateParams(thread_id=thread_id, title=title)
        return THREAD.validate_json(await self._json(ThreadsUpdateReq(params=params)))

    async def delete_thread(self, thread_id: str) -> None:
        """``threads.delete``; the answer is ``{}``."""
        req = ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id))
        assert await self._json(req) == b"{}"

    async def simple(self, message: str, thread_id: str | None = None) -> SimpleStream:
        """The simple format: ``{"message", "thread_id"?}``."""
        body: dict[str, str] = {"message": message}
        if thread_id is not None:
            body["thread_id"] = thread_id
        response = await self.post(body)
        expect_sse(response)
        sse = parse_sse(response.text)
        events, done = validate_simple_frames(sse)
        return SimpleStream(response, sse, events, done)

    async def _json(self, req: BaseModel) -> bytes:
        response = await self.post(req)
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        return response.content
