"""The REST face: GET/DELETE /api/conversations."""

from collections.abc import Callable

import httpx
from pydantic import BaseModel

from testkit.chatkit_client import ChatKitClient
from testkit.tokens import auth_headers

ClientFactory = Callable[[str], ChatKitClient]


class Summary(BaseModel):
    id: str
    title: str | None
    created_at: str
    updated_at: str


class SummaryPage(BaseModel):
    data: list[Summary]
    has_more: bool
    after: str | None = None


class Message(BaseModel):
    id: str
    role: str
    content: str
    tool_calls: list[dict[str, object]]
    created_at: str


class Detail(Summary):
    messages: list[Message]


async def new_thread(client: ChatKitClient, text: str) -> str:
    stream = await client.create_thread(text)
    assert stream.thread_id is not None
    return stream.thread_id


async def test_conversations_are_listed_by_latest_activity_and_paged(
    http: httpx.AsyncClient, client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    older, newer = [await new_thread(client, t) for t in ("older", "newer")]
    await client.add_user_message(older, "bump")  # now the most recently active

    headers = auth_headers(user_id)
    first = await http.get("/api/conversations?limit=1", headers=headers)
    assert first.status_code == 200
    page = SummaryPage.model_validate_json(first.content)
    assert [c.id for c in page.data] == [older]
    assert page.has_more
    assert page.after == older

    rest = await http.get(f"/api/conversations?limit=1&after={older}", headers=headers)
    page2 = SummaryPage.model_validate_json(rest.content)
    assert [c.id for c in page2.data] == [newer]
    assert page2.has_more is False


async def test_conversation_detail_holds_messages_with_roles_and_tool_calls(
    http: httpx.AsyncClient, client_for: ClientFactory, user_id: str, marker: str
) -> None:
    client = client_for(user_id)
    thread_id = await new_thread(client, f"add task Walk dog {marker}")

    response = await http.get(
        f"/api/conversations/{thread_id}", headers=auth_headers(user_id)
    )
    assert response.status_code == 200
    detail = Detail.model_validate_json(response.content)
    assert detail.title == f"add task Walk dog {marker}"
    assert [m.role for m in detail.messages] == ["user", "tool", "assistant"]
    assert detail.messages[0].content == f"add task Walk dog {marker}"
    (call,) = detail.messages[1].tool_calls
    assert call["name"] == "add_task"
    assert f"Walk dog {marker}" in str(call["output"])
    assert f"Walk dog {marker}" in detail.messages[2].content


async def test_deleted_conversation_is_gone_everywhere(
    http: httpx.AsyncClient, client_for: ClientFactory, user_id: str
) -> None:
    client = client_for(user_id)
    thread_id = await new_thread(client, "to delete")
    headers = auth_headers(user_id)
    deleted = await http.delete(f"/api/conversations/{thread_id}", headers=headers)
    assert deleted.status_code == 204
    again = await http.get(f"/api/conversations/{thread_id}", headers=headers)
    assert again.status_code == 404
    assert again.json()["error"]
    listed = SummaryPage.model_validate_json(
        (await http.get("/api/conversations", headers=headers)).content
    )
    assert thread_id not in {c.id for c in listed.data}
