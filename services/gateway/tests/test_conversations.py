"""The REST face, on real history; data is written the way the worker writes it."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    CustomTask,
    InferenceOptions,
    SDKHiddenContextItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
    Workflow,
    WorkflowItem,
)

from gateway.routes.conversations import ConversationDetail, ConversationPage
from shared.history_api import ErrorBody, ToolCallRecord
from shared.history_client import HistoryClient
from shared.ids import new_id
from testkit.tokens import auth_headers


@pytest.fixture
async def history(history_url: str) -> AsyncIterator[HistoryClient]:
    client = HistoryClient(history_url)
    yield client
    await client.aclose()


async def _conversation(history: HistoryClient, user: str, title: str) -> str:
    thread_id = new_id("thr")
    now = datetime.now(UTC)
    await history.save_thread(
        user, ThreadMetadata(id=thread_id, title=title, created_at=now)
    )
    user_item = UserMessageItem(
        id=new_id("msg"), thread_id=thread_id, created_at=now,
        content=[UserMessageTextContent(text=f"about {title}")],
        inference_options=InferenceOptions(),
    )  # fmt: skip
    await history.add_item(user, thread_id, user_item)
    return thread_id


async def _answer_with_tool(history: HistoryClient, user: str, thread_id: str) -> None:
    now = datetime.now(UTC)
    workflow = WorkflowItem(
        id=new_id("wf"), thread_id=thread_id, created_at=now,
        workflow=Workflow(type="custom", tasks=[CustomTask(title="add_task")]),
    )  # fmt: skip
    call = ToolCallRecord(
        call_id="call_1", name="add_task", arguments='{"title": "milk"}', output="ok"
    )
    await history.add_item(user, thread_id, workflow, [call])
    hidden = SDKHiddenContextItem(
        id=new_id("shcx"), thread_id=thread_id, created_at=now, content="model only"
    )
    await history.add_item(user, thread_id, hidden)
    answer = AssistantMessageItem(
        id=new_id("msg"), thread_id=thread_id, created_at=now,
        content=[AssistantMessageContent(text="Added milk.")],
    )  # fmt: skip
    await history.add_item(user, thread_id, answer)


async def _page(
    http: httpx.AsyncClient, user: str, **params: str | int
) -> ConversationPage:
    response = await http.get(
        "/api/conversations", params=params, headers=auth_headers(user)
    )
    assert response.status_code == 200, response.text
    return ConversationPage.model_validate_json(response.content)


async def test_list_is_newest_updated_first_and_pages_with_after(
    http: httpx.AsyncClient, history: HistoryClient
) -> None:
    user = new_id("req")
    older = await _conversation(history, user, "older")
    await asyncio.sleep(0.01)
    newer = await _conversation(history, user, "newer")
    await asyncio.sleep(0.01)
    await _answer_with_tool(history, user, older)  # now the most recently updated

    first = await _page(http, user, limit=1)
    assert [c.id for c in first.data] == [older]
    assert first.has_more
    assert first.after is not None
    second = await _page(http, user, limit=1, after=first.after)
    assert [c.id for c in second.data] == [newer]
    assert not second.has_more
    everything = await _page(http, user)
    assert [(c.id, c.title) for c in everything.data] == [
        (older, "older"),
        (newer, "newer"),
    ]
    assert everything.data[0].updated_at >= everything.data[1].updated_at


async def test_get_returns_the_visible_messages_with_roles_and_tool_calls(
    http: httpx.AsyncClient, history: HistoryClient
) -> None:
    user = new_id("req")
    thread_id = await _conversation(history, user, "groceries")
    await _answer_with_tool(history, user, thread_id)
    response = await http.get(
        f"/api/conversations/{thread_id}", headers=auth_headers(user)
    )
    assert response.status_code == 200, response.text
    detail = ConversationDetail.model_validate_json(response.content)
    assert (detail.id, detail.title) == (thread_id, "groceries")
    summary = [(m.role, m.content, m.item.type) for m in detail.messages]
    assert summary == [
        ("user", "about groceries", "user_message"),
        ("tool", "", "workflow"),
        ("assistant", "Added milk.", "assistant_message"),
    ]
    assert [c.name for c in detail.messages[1].tool_calls] == ["add_task"]
    assert detail.messages[1].tool_calls[0].arguments == '{"title": "milk"}'


async def test_delete_is_204_then_the_conversation_is_gone(
    http: httpx.AsyncClient, history: HistoryClient
) -> None:
    user = new_id("req")
    thread_id = await _conversation(history, user, "temporary")
    url = f"/api/conversations/{thread_id}"
    deleted = await http.delete(url, headers=auth_headers(user))
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await http.get(url, headers=auth_headers(user))
    assert gone.status_code == 404
    assert (await _page(http, user)).data == []


async def test_another_users_conversation_is_404_for_read_and_delete(
    http: httpx.AsyncClient, history: HistoryClient
) -> None:
    owner, stranger = new_id("req"), new_id("req")
    thread_id = await _conversation(history, owner, "private")
    url = f"/api/conversations/{thread_id}"
    for method in ("GET", "DELETE"):
        response = await http.request(method, url, headers=auth_headers(stranger))
        assert response.status_code == 404
        assert ErrorBody.model_validate_json(response.content).error == "not_found"
    assert (await _page(http, stranger)).data == []
    still_there = await http.get(url, headers=auth_headers(owner))
    assert still_there.status_code == 200


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}])
async def test_bad_paging_parameters_are_422_json(
    http: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await http.get(
        "/api/conversations", params=params, headers=auth_headers("u1")
    )
    assert response.status_code == 422
    assert ErrorBody.model_validate_json(response.content).error == "invalid_request"
    assert "limit" in response.json()["detail"]


async def test_openapi_documents_the_rest_models(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    names = set(schema["components"]["schemas"])
    assert {"ConversationPage", "ConversationSummary", "ConversationDetail"} <= names
    assert "/api/conversations/{conversation_id}" in schema["paths"]


async def _feedback(
    http: httpx.AsyncClient, user: str, thread_id: str, ids: list[str], kind: str
) -> httpx.Response:
    params = {"thread_id": thread_id, "item_ids": ids, "kind": kind}
    return await http.post(
        "/chatkit",
        json={"type": "items.feedback", "params": params},
        headers=auth_headers(user),
    )


async def test_items_feedback_is_stored_and_shown_on_the_rest_messages(
    http: httpx.AsyncClient, history: HistoryClient
) -> None:
    user = new_id("req")
    thread_id = await _conversation(history, user, "rated")
    await _answer_with_tool(history, user, thread_id)
    url = f"/api/conversations/{thread_id}"
    before = ConversationDetail.model_validate_json(
        (await http.get(url, headers=auth_headers(user))).content
    )
    answer = before.messages[-1]
    assert answer.feedback is None

    for kind in ("positive", "negative"):  # the last verdict wins
        response = await _feedback(http, user, thread_id, [answer.id], kind)
        assert (response.status_code, response.content) == (200, b"{}")
    after = ConversationDetail.model_validate_json(
        (await http.get(url, headers=auth_headers(user))).content
    )
    assert [m.feedback for m in after.messages] == [None, None, "negative"]


async def test_feedback_on_another_users_thread_is_404_and_stores_nothing(
    http: httpx.AsyncClient, history: HistoryClient
) -> None:
    owner = new_id("req")
    thread_id = await _conversation(history, owner, "mine")
    await _answer_with_tool(history, owner, thread_id)
    items = await history.list_items(owner, thread_id, order="desc", limit=1)
    answer_id = items.data[0].item.id
    response = await _feedback(http, new_id("req"), thread_id, [answer_id], "negative")
    assert response.status_code == 404
    assert ErrorBody.model_validate_json(response.content).error == "not_found"
    stored = await history.get_item(owner, thread_id, answer_id)
    assert stored.feedback is None
