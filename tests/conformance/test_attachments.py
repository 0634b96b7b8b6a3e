"""Attachments: ``attachments.create``, two-phase upload, use in messages, delete."""

import base64
import uuid
from typing import Any

import httpx
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    FileAttachment,
    ImageAttachment,
    ThreadsCreateReq,
    UserMessageItem,
)

from testkit.chatkit_client import ChatKitClient, user_input

from .frames import TEXT_MESSAGE, assert_refused, done_items, signature
from .targets import Target

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def uploaded(
    client: ChatKitClient, http: httpx.AsyncClient, name: str, data: bytes, mime: str
) -> str:
    """An attachment created and uploaded (multipart ``file``, no bearer)."""
    attachment = await client.create_attachment(name, len(data), mime)
    descriptor = attachment.upload_descriptor
    assert descriptor is not None
    response = await http.request(
        descriptor.method,
        str(descriptor.url),
        headers=descriptor.headers,
        files={"file": (name, data, mime)},
    )
    assert response.is_success, (response.status_code, response.text)
    return attachment.id


def without_previews(item: UserMessageItem) -> dict[str, Any]:
    return item.model_dump(
        mode="json", exclude={"attachments": {"__all__": {"preview_url"}}}
    )


def create_req(text: str, attachment_ids: list[str]) -> ThreadsCreateReq:
    return ThreadsCreateReq.model_validate(
        {"params": {"input": user_input(text, attachment_ids).model_dump()}}
    )


async def test_an_image_attachment_has_an_upload_url_and_a_preview_url(
    client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    attachment = await client.create_attachment("dot.png", len(PNG), "image/png")

    assert isinstance(attachment, ImageAttachment)
    assert (attachment.name, attachment.mime_type) == ("dot.png", "image/png")
    descriptor = attachment.upload_descriptor
    assert descriptor is not None
    assert descriptor.method == "POST"
    assert descriptor.headers == {}
    assert attachment.thread_id is None
    upload = await http.post(str(descriptor.url), files={"file": ("dot.png", PNG)})
    assert upload.is_success, upload.text
    preview = await http.get(str(attachment.preview_url))
    assert preview.status_code == 200
    assert preview.content == PNG


async def test_a_file_attachment_has_an_upload_url_and_no_preview(
    client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    attachment = await client.create_attachment(
        "notes.pdf", len(PDF), "application/pdf"
    )
    assert isinstance(attachment, FileAttachment)
    descriptor = attachment.upload_descriptor
    assert descriptor is not None
    # A raw body works as well as a multipart one.
    upload = await http.post(
        str(descriptor.url), content=PDF, headers={"Content-Type": "application/pdf"}
    )
    assert upload.is_success, upload.text


async def test_uploaded_attachments_reach_the_model_and_the_stored_message(
    client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    image = await uploaded(client, http, "dot.png", PNG, "image/png")
    pdf = await uploaded(client, http, "notes.pdf", PDF, "application/pdf")

    stream = await client.create_thread("what are these?", [image, pdf])

    assert signature(stream.events) == [
        "thread.created",
        "thread.item.done:user_message",
        "stream_options",
        *TEXT_MESSAGE,
    ]
    assert stream.assistant_text() == "I see 2 attachment(s)."
    user = done_items(stream)[0]
    assert isinstance(user, UserMessageItem)
    assert [a.id for a in user.attachments] == [image, pdf]
    assert {a.thread_id for a in user.attachments} == {stream.thread_id}
    assert [a.type for a in user.attachments] == ["image", "file"]
    stored = (await client.list_items(stream.thread_id or "", order="asc")).data
    stored_user = stored[0]
    assert isinstance(stored_user, UserMessageItem)
    # Ours signs preview links with an expiry, afresh on every read: compare the
    # stored message without them, and check that the stored link still works.
    assert without_previews(stored_user) == without_previews(user)
    preview = stored_user.attachments[0]
    assert isinstance(preview, ImageAttachment)
    assert (await http.get(str(preview.preview_url))).content == PNG
    follow_up = await client.add_user_message(stream.thread_id or "", "and now?")
    assert follow_up.assistant_text() == "Echo: and now? (user turns: 2)"


async def test_limits_on_size_and_type_are_ours(
    target: Target, client: ChatKitClient
) -> None:
    too_big = AttachmentsCreateReq.model_validate(
        {
            "params": {
                "name": "big.pdf",
                "size": 50 * 1024 * 1024,
                "mime_type": "application/pdf",
            }
        }
    )
    odd_type = AttachmentsCreateReq.model_validate(
        {
            "params": {
                "name": "x.exe",
                "size": 10,
                "mime_type": "application/x-msdownload",
            }
        }
    )
    for req, status in ((too_big, 413), (odd_type, 415)):
        response = await client.post(req)
        if target.ours:
            # Ours enforces GATEWAY_ATTACHMENT_MAX_BYTES and an allow-list of
            # types before anything is stored.
            assert response.status_code == status, response.text
            assert response.json()["error"]
        else:
            # The SDK leaves limits to the AttachmentStore; the reference has none.
            assert response.status_code == 200, response.text


async def test_another_users_attachment_cannot_be_sent_or_deleted(
    target: Target,
    client: ChatKitClient,
    intruder: ChatKitClient,
    http: httpx.AsyncClient,
) -> None:
    image = await uploaded(client, http, "dot.png", PNG, "image/png")
    # The SDK's load_attachment raises inside the stream (after thread.created
    # for a new thread): the connection drops.
    await assert_refused(
        target,
        intruder,
        create_req("mine now", [image]),
        ours=(404, "not_found"),
        sdk="dropped",
    )
    delete = AttachmentsDeleteReq.model_validate({"params": {"attachment_id": image}})
    await assert_refused(target, intruder, delete, ours=(404, "not_found"), sdk="crash")
    stream = await client.create_thread("still mine", [image])
    assert stream.assistant_text() == "I see 1 attachment(s)."


async def test_a_deleted_attachment_is_gone_for_messages_and_previews(
    target: Target, client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    attachment = await client.create_attachment("dot.png", len(PNG), "image/png")
    assert isinstance(attachment, ImageAttachment)
    assert attachment.upload_descriptor is not None
    upload = await http.post(
        str(attachment.upload_descriptor.url), files={"file": ("dot.png", PNG)}
    )
    assert upload.is_success

    await client.delete_attachment(attachment.id)

    await assert_refused(
        target,
        client,
        create_req("where is it?", [attachment.id]),
        ours=(404, "not_found"),
        sdk="dropped",
    )
    preview = await http.get(str(attachment.preview_url))
    assert preview.status_code == 404
    missing = AttachmentsDeleteReq.model_validate(
        {"params": {"attachment_id": f"atc_{uuid.uuid4().hex}"}}
    )
    await assert_refused(target, client, missing, ours=(404, "not_found"), sdk="crash")


async def test_an_attachment_that_was_never_uploaded_cannot_be_sent(
    target: Target, client: ChatKitClient
) -> None:
    attachment = await client.create_attachment("dot.png", len(PNG), "image/png")
    req = create_req("look", [attachment.id])
    if target.ours:
        # Ours checks the bytes exist before storing the message.
        response = await client.post(req)
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "attachment_not_uploaded"
        assert (await client.list_threads()).data == []
        return
    # The SDK stores the message with the record alone; the answer then fails
    # when the converter finds no bytes to give the model.
    stream = await client.stream(req)
    assert signature(stream.events) == [
        "thread.created",
        "thread.item.done:user_message",
        "stream_options",
        "error:stream.error",
    ]
