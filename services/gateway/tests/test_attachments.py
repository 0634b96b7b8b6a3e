"""Attachments end to end on the gateway: create, signed upload, preview, delete, use.

Real history, Redis and a local blob folder; uploads and previews go to the
absolute URLs the gateway hands out, without a bearer token.
"""

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from chatkit.types import (
    Attachment,
    FileAttachment,
    ImageAttachment,
    ThreadItemDoneEvent,
    UserMessageItem,
)
from pydantic import TypeAdapter

from gateway.routes.conversations import ConversationDetail
from gateway.upload_links import LinkSigner
from shared.attachment_blobs import blob_key
from shared.history_api import ErrorBody
from shared.history_client import HistoryClient
from shared.ids import new_id
from testkit.chatkit_client import ChatKitClient
from testkit.tokens import TEST_JWT_SECRET, auth_headers, jwt_for

from .flows import create_body, turn
from .worker_double import WorkerDouble

ATTACHMENT: TypeAdapter[Attachment] = TypeAdapter(Attachment)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
LIMIT = 64 * 1024  # TEST_ATTACHMENT_LIMIT of the test gateways


def _user() -> str:
    return new_id("req")


async def _create(
    http: httpx.AsyncClient, user: str, name: str, mime_type: str, size: int = 100
) -> Attachment:
    params = {"name": name, "size": size, "mime_type": mime_type}
    response = await http.post(
        "/chatkit",
        json={"type": "attachments.create", "params": params},
        headers=auth_headers(user),
    )
    assert response.status_code == 200, response.text
    assert "metadata" not in response.json()
    return ATTACHMENT.validate_json(response.content)


def _upload_url(attachment: Attachment) -> str:
    assert attachment.upload_descriptor is not None
    return str(attachment.upload_descriptor.url)


def _preview_url(attachment: Attachment) -> str:
    assert isinstance(attachment, ImageAttachment)
    return str(attachment.preview_url)


async def _upload_png(http: httpx.AsyncClient, user: str) -> ImageAttachment:
    attachment = await _create(http, user, "cat.png", "image/png", len(PNG))
    files = {"file": ("cat.png", PNG, "image/png")}
    response = await http.post(_upload_url(attachment), files=files)
    assert response.status_code == 200, response.text
    uploaded = ATTACHMENT.validate_json(response.content)
    assert isinstance(uploaded, ImageAttachment)
    return uploaded


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, ErrorBody.model_validate_json(response.content).error


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    query = {k: v for k, v in query.items() if v}
    return parts._replace(query=urlencode(query)).geturl()


async def test_image_two_phase_upload_then_the_preview_serves_its_bytes(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    user = _user()
    created = await _create(http, user, "cat.png", "image/png", len(PNG))
    assert isinstance(created, ImageAttachment)
    assert created.upload_descriptor is not None
    assert created.upload_descriptor.method == "POST"
    assert _upload_url(created).startswith(
        f"{gateway_url}/attachments/{created.id}/upload?"
    )
    not_yet = await http.get(_preview_url(created))
    assert _error(not_yet) == (404, "not_found")

    files = {"file": ("cat.png", PNG, "image/png")}
    response = await http.post(_upload_url(created), files=files)
    assert response.status_code == 200, response.text
    uploaded = ATTACHMENT.validate_json(response.content)
    assert isinstance(uploaded, ImageAttachment)
    assert (uploaded.id, uploaded.upload_descriptor) == (created.id, None)
    assert response.headers["access-control-allow-origin"] == "*"

    preview = await http.get(_preview_url(uploaded))
    assert preview.status_code == 200
    assert preview.content == PNG
    assert preview.headers["content-type"] == "image/png"
    assert preview.headers["cross-origin-resource-policy"] == "cross-origin"
    assert preview.headers["access-control-allow-origin"] == "*"
    assert preview.headers["cache-control"].startswith("private, max-age=")
    assert preview.headers["x-content-type-options"] == "nosniff"

    again = await http.post(_upload_url(created), files=files)
    assert _error(again) == (409, "already_uploaded")


async def test_file_attachment_takes_a_raw_put_body_and_has_no_preview(
    http: httpx.AsyncClient, attachments_dir: Path
) -> None:
    user = _user()
    created = await _create(http, user, "notes.md", "text/markdown")
    assert isinstance(created, FileAttachment)
    response = await http.put(
        _upload_url(created),
        content=b"# notes\n",
        headers={"Content-Type": "text/markdown; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    uploaded = ATTACHMENT.validate_json(response.content)
    assert isinstance(uploaded, FileAttachment)
    assert uploaded.upload_descriptor is None
    stored = attachments_dir / blob_key(user, created.id)
    assert stored.read_bytes() == b"# notes\n"


@pytest.mark.parametrize(
    "change",
    [
        {"sig": "A" * 43},
        {"sig": ""},
        {"user": "someone-else"},
        {"exp": str(int(time.time()) + 999_999)},
        {"exp": "soon"},
    ],
    ids=["forged-signature", "no-signature", "other-user", "longer-life", "bad-exp"],
)
async def test_an_altered_link_is_403_for_upload_and_preview(
    http: httpx.AsyncClient, change: dict[str, str]
) -> None:
    created = await _create(http, _user(), "cat.png", "image/png")
    for url, method in [(_upload_url(created), "POST"), (_preview_url(created), "GET")]:
        response = await http.request(method, _with_query(url, **change), content=PNG)
        assert _error(response) == (403, "invalid_signature")


async def test_a_link_works_only_for_its_attachment_and_purpose(
    http: httpx.AsyncClient,
) -> None:
    user = _user()
    first = await _create(http, user, "a.png", "image/png")
    second = await _create(http, user, "b.png", "image/png")
    upload_query = urlsplit(_upload_url(first)).query
    preview_path = urlsplit(_preview_url(first)).path
    as_preview = await http.get(f"{preview_path}?{upload_query}")
    assert _error(as_preview) == (403, "invalid_signature")
    other_path = urlsplit(_upload_url(second)).path
    on_other = await http.post(f"{other_path}?{upload_query}", content=PNG)
    assert _error(on_other) == (403, "invalid_signature")


async def test_an_expired_link_is_403_link_expired(http: httpx.AsyncClient) -> None:
    user = _user()
    created = await _create(http, user, "a.png", "image/png")
    signer = LinkSigner(TEST_JWT_SECRET, ttl_s=3600)
    stale = signer.sign("attachment-upload", created.id, user, now=time.time() - 3601)
    response = await http.post(
        f"/attachments/{created.id}/upload?{stale.query()}", content=PNG
    )
    assert _error(response) == (403, "link_expired")


async def test_upload_over_the_size_limit_is_413_and_leaves_it_pending(
    http: httpx.AsyncClient,
) -> None:
    user = _user()
    created = await _create(http, user, "big.txt", "text/plain")
    too_big = b"x" * (LIMIT + 1)
    raw = await http.post(_upload_url(created), content=too_big)
    assert _error(raw) == (413, "attachment_too_large")
    files = {"file": ("big.txt", too_big, "text/plain")}
    multipart = await http.post(_upload_url(created), files=files)
    assert _error(multipart) == (413, "attachment_too_large")
    just_fits = await http.post(_upload_url(created), content=b"x" * LIMIT)
    assert just_fits.status_code == 200, just_fits.text


@pytest.mark.parametrize(
    ("data", "declared"),
    [(JPEG, "image/png"), (PNG, "image/gif"), (b"<svg onload=x>", "")],
    ids=["jpeg-bytes", "declared-gif", "svg-untyped"],
)
async def test_upload_that_is_not_the_declared_image_type_is_415(
    http: httpx.AsyncClient, data: bytes, declared: str
) -> None:
    created = await _create(http, _user(), "cat.png", "image/png")
    files: dict[str, Any] = {"file": ("cat.png", data, declared or None)}
    if declared:
        response = await http.post(_upload_url(created), files=files)
    else:
        response = await http.post(_upload_url(created), content=data)
    assert _error(response) == (415, "unsupported_media_type")


async def test_multipart_upload_without_a_file_field_is_400(
    http: httpx.AsyncClient,
) -> None:
    created = await _create(http, _user(), "a.txt", "text/plain")
    response = await http.post(_upload_url(created), files={"other": ("a", b"x")})
    assert _error(response) == (400, "invalid_upload")


async def test_deleting_an_attachment_removes_its_bytes_and_breaks_its_links(
    http: httpx.AsyncClient, attachments_dir: Path
) -> None:
    user = _user()
    uploaded = await _upload_png(http, user)
    stored = attachments_dir / blob_key(user, uploaded.id)
    assert stored.exists()
    body = {"type": "attachments.delete", "params": {"attachment_id": uploaded.id}}
    stranger = await http.post("/chatkit", json=body, headers=auth_headers(_user()))
    assert _error(stranger) == (404, "not_found")
    deleted = await http.post("/chatkit", json=body, headers=auth_headers(user))
    assert (deleted.status_code, deleted.content) == (200, b"{}")
    assert not stored.exists()
    assert _error(await http.get(_preview_url(uploaded))) == (404, "not_found")
    again = await http.post("/chatkit", json=body, headers=auth_headers(user))
    assert _error(again) == (404, "not_found")


async def test_a_message_may_use_only_its_users_uploaded_attachments(
    http: httpx.AsyncClient,
) -> None:
    owner, stranger = _user(), _user()
    uploaded = await _upload_png(http, owner)
    pending = await _create(http, owner, "later.png", "image/png")
    cases = [
        (stranger, [uploaded.id], (404, "not_found")),
        (owner, [pending.id], (409, "attachment_not_uploaded")),
        (owner, ["atc_missing"], (404, "not_found")),
        (owner, [uploaded.id, uploaded.id], (422, "invalid_request")),
    ]
    for user, ids, expected in cases:
        response = await http.post(
            "/chatkit", json=create_body("look", ids), headers=auth_headers(user)
        )
        assert _error(response) == expected
    threads = await ChatKitClient(http, jwt_for(owner)).list_threads()
    assert threads.data == []


async def test_message_attachments_are_stored_with_the_thread_and_previews_stay_fresh(
    http: httpx.AsyncClient, worker: WorkerDouble, history_url: str
) -> None:
    user = _user()
    image = await _upload_png(http, user)
    created = await turn(http, worker, user, create_body("", [image.id]))
    thread_id = created.job.thread_id
    user_done = created.events[1]
    assert isinstance(user_done, ThreadItemDoneEvent)
    assert isinstance(user_done.item, UserMessageItem)
    [attached] = user_done.item.attachments
    assert isinstance(attached, ImageAttachment)
    assert (attached.id, attached.thread_id) == (image.id, thread_id)
    assert (await http.get(str(attached.preview_url))).content == PNG

    history = HistoryClient(history_url)
    try:
        stored = await history.get_attachment(user, image.id)
    finally:
        await history.aclose()
    assert stored.thread_id == thread_id

    thread = await ChatKitClient(http, jwt_for(user)).get_thread(thread_id)
    item = thread.items.data[0]
    assert isinstance(item, UserMessageItem)
    shown = item.attachments[0]
    assert isinstance(shown, ImageAttachment)
    assert (await http.get(str(shown.preview_url))).content == PNG

    rest = await http.get(f"/api/conversations/{thread_id}", headers=auth_headers(user))
    detail = ConversationDetail.model_validate_json(rest.content)
    message = detail.messages[0].item
    assert isinstance(message, UserMessageItem)
    assert [a.id for a in message.attachments] == [image.id]
