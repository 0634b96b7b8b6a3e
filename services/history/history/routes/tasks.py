"""``/v1/tasks``: the user's task list."""

from fastapi import APIRouter, Response

from history.deps import IdPath, PoolDep, UserId
from history.store import tasks
from shared.history_api import TaskCreate, TaskList, TaskRecord, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("")
async def list_tasks(user_id: UserId, pool: PoolDep) -> TaskList:
    """The user's tasks, oldest first."""
    return await tasks.list_tasks(pool, user_id)


@router.post("", status_code=201)
async def create_task(body: TaskCreate, user_id: UserId, pool: PoolDep) -> TaskRecord:
    """Add a task."""
    return await tasks.create_task(pool, user_id, body)


@router.patch("/{task_id}")
async def update_task(
    task_id: IdPath, body: TaskUpdate, user_id: UserId, pool: PoolDep
) -> TaskRecord:
    """Change a task's title, notes or done flag."""
    return await tasks.update_task(pool, user_id, task_id, body)


@router.delete("/{task_id}", status_code=204)
async def delete_task(task_id: IdPath, user_id: UserId, pool: PoolDep) -> Response:
    """Delete a task."""
    await tasks.delete_task(pool, user_id, task_id)
    return Response(status_code=204)
