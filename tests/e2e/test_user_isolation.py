"""Two users: neither can read, list, stream into, rename or delete the other's."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from testkit.chatkit_client import ChatKitClient
from testkit.tokens import auth_headers

ClientFactory = Callable[[str], ChatKitClient]


@pytest.fixture
async def alice_thread(client_for: ClientFactory, user_id: str) -> str:
    stream = await client_for(user_id).create_thread("alice's secret plans")
    assert stream.thread_id is not None
    return stream.thread_id


def chatkit_bodies(thread_id: str) -> list[dict[str, Any]]:
    text = {"content": [{"type": "input_text", "text": "hi"}]}
    user_input = {**text, "attachments": [], "inference_options": {}}
    return [
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        {"type": "items.list", "params": {"thread_id": thread_id}},
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "x"}},
        {"type": "threads.delete", "params": {"thread_id": thread_id}},
        {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": user_input},
        },
        {"message": "hi", "thread_id": thread_id},
    ]


async def test_another_user_gets_404_for_every_chatkit_op_on_the_thread(
    client_for: ClientFactory, alice_thread: str
) -> None:
    bob = client_for("bob-isolation")
    for body in chatkit_bodies(alice_thread):
        response = await bob.post(body)
        assert response.status_code == 404, (body, response.text)
        assert response.json()["error"]


async def test_another_user_gets_404_on_the_rest_api_and_lists_nothing(
    http: httpx.AsyncClient, client_for: ClientFactory, alice_thread: str
) -> None:
    bob = auth_headers("bob-isolation-rest")
    path = f"/api/conversations/{alice_thread}"
    assert (await http.get(path, headers=bob)).status_code == 404
    assert (await http.delete(path, headers=bob)).status_code == 404
    listed = (await http.get("/api/conversations", headers=bob)).json()
    assert alice_thread not in {c["id"] for c in listed["data"]}
    threads = await client_for("bob-isolation-rest").list_threads()
    assert alice_thread not in {t.id for t in threads.data}


async def test_owner_still_has_everything_after_the_other_users_attempts(
    client_for: ClientFactory, user_id: str, alice_thread: str
) -> None:
    bob = client_for("bob-isolation-after")
    for body in chatkit_bodies(alice_thread):
        await bob.post(body)
    thread = await client_for(user_id).get_thread(alice_thread)
    assert thread.title == "alice's secret plans"
    assert [i.type for i in thread.items.data] == ["user_message", "assistant_message"]
