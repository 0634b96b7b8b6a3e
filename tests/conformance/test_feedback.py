"""``items.feedback``: thumbs up/down on items, answered ``{}``."""

import uuid

import httpx
from chatkit.types import ItemsFeedbackReq

from testkit.chatkit_client import ChatKitClient

from .frames import assert_refused, done_items
from .targets import Target


def feedback_req(thread_id: str, item_id: str) -> ItemsFeedbackReq:
    return ItemsFeedbackReq.model_validate(
        {"params": {"thread_id": thread_id, "item_ids": [item_id], "kind": "positive"}}
    )


async def stored_feedback(
    http: httpx.AsyncClient, client: ChatKitClient, thread_id: str
) -> dict[str, str | None]:
    """Ours: each message's feedback, as the REST conversation API shows it."""
    response = await http.get(f"/api/conversations/{thread_id}", headers=client.headers)
    assert response.status_code == 200, response.text
    return {m["id"]: m.get("feedback") for m in response.json()["messages"]}


async def test_feedback_is_answered_with_an_empty_object_and_ours_keeps_the_last_kind(
    target: Target, client: ChatKitClient, http: httpx.AsyncClient
) -> None:
    stream = await client.create_thread("rate me")
    assert stream.thread_id is not None
    user, answer = done_items(stream)

    await client.feedback(stream.thread_id, [answer.id], "positive")
    await client.feedback(stream.thread_id, [answer.id, user.id], "negative")

    if target.ours:
        # Ours stores feedback per item and user (the SDK's add_feedback hook is
        # a no-op by default, so the reference has nothing to read back).
        assert await stored_feedback(http, client, stream.thread_id) == {
            user.id: "negative",
            answer.id: "negative",
        }
    assert (await client.list_items(stream.thread_id, order="asc")).data == (
        done_items(stream)
    )


async def test_feedback_on_an_unknown_or_foreign_thread(
    target: Target,
    client: ChatKitClient,
    intruder: ChatKitClient,
    http: httpx.AsyncClient,
) -> None:
    stream = await client.create_thread("mine")
    assert stream.thread_id is not None
    answer = done_items(stream)[-1]
    cases = [
        (client, feedback_req(f"thr_{uuid.uuid4().hex}", answer.id)),
        (intruder, feedback_req(stream.thread_id, answer.id)),
    ]
    for who, req in cases:
        if target.ours:
            await assert_refused(target, who, req, ours=(404, "not_found"), sdk="crash")
        else:
            # The SDK's default add_feedback never loads the thread: any ids
            # are answered {} (and nothing is stored anyway).
            response = await who.post(req)
            assert (response.status_code, response.content) == (200, b"{}")
    if target.ours:
        assert await stored_feedback(http, client, stream.thread_id) == {
            item.id: None for item in done_items(stream)
        }
