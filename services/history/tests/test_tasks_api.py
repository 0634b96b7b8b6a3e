import httpx
import pytest

from shared.history_api import ErrorBody, TaskCreate, TaskUpdate
from shared.history_client import HistoryClient, HistoryNotFound


async def test_new_task_is_open_and_has_a_task_id(
    client: HistoryClient, user_id: str
) -> None:
    task = await client.create_task(user_id, TaskCreate(title="Buy milk", notes="2L"))

    assert task.id.startswith("task_")
    assert (task.title, task.notes, task.done) == ("Buy milk", "2L", False)
    assert task.created_at.tzinfo is not None


async def test_tasks_are_listed_oldest_first(
    client: HistoryClient, user_id: str
) -> None:
    titles = ["first", "second", "third"]
    for title in titles:
        await client.create_task(user_id, TaskCreate(title=title))

    listed = await client.list_tasks(user_id)

    assert [task.title for task in listed.data] == titles


async def test_updating_a_task_changes_only_the_given_fields(
    client: HistoryClient, user_id: str
) -> None:
    task = await client.create_task(user_id, TaskCreate(title="Call", notes="at 5"))

    done = await client.update_task(user_id, task.id, TaskUpdate(done=True))
    renamed = await client.update_task(user_id, task.id, TaskUpdate(title="Call Bo"))

    assert (done.title, done.notes, done.done) == ("Call", "at 5", True)
    assert (renamed.title, renamed.notes, renamed.done) == ("Call Bo", "at 5", True)
    assert renamed.updated_at > task.updated_at


async def test_deleted_task_leaves_the_list(
    client: HistoryClient, user_id: str
) -> None:
    keep = await client.create_task(user_id, TaskCreate(title="keep"))
    drop = await client.create_task(user_id, TaskCreate(title="drop"))

    await client.delete_task(user_id, drop.id)

    assert [task.id for task in (await client.list_tasks(user_id)).data] == [keep.id]
    with pytest.raises(HistoryNotFound):
        await client.delete_task(user_id, drop.id)


async def test_another_users_tasks_are_invisible_and_untouchable(
    client: HistoryClient, user_id: str, other_user_id: str
) -> None:
    task = await client.create_task(user_id, TaskCreate(title="private"))

    assert (await client.list_tasks(other_user_id)).data == []
    with pytest.raises(HistoryNotFound):
        await client.update_task(other_user_id, task.id, TaskUpdate(done=True))
    with pytest.raises(HistoryNotFound):
        await client.delete_task(other_user_id, task.id)
    assert (await client.list_tasks(user_id)).data == [task]


async def test_updating_a_missing_task_is_not_found(
    client: HistoryClient, user_id: str
) -> None:
    with pytest.raises(HistoryNotFound):
        await client.update_task(user_id, "task_missing", TaskUpdate(done=True))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/tasks", {"title": ""}),
        ("POST", "/tasks", {"title": "x" * 501}),
        ("POST", "/tasks", {"notes": "no title"}),
        ("POST", "/tasks", {"title": ["a"]}),
        ("PATCH", "/tasks/task_x", {"done": "maybe"}),
        ("PATCH", "/tasks/task_x", {"title": ""}),
    ],
)
async def test_malformed_task_requests_get_a_json_422(
    http: httpx.AsyncClient,
    user_id: str,
    method: str,
    path: str,
    body: dict[str, object],
) -> None:
    response = await http.request(
        method, path, json=body, headers={"X-User-Id": user_id}
    )

    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate_json(response.content).error == "invalid_request"
