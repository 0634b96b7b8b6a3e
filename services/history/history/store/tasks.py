"""The user's task list (what the default agent's tools work on)."""

from asyncpg import Record

from history.db import Executor
from history.store.errors import NotFound
from shared.history_api import TaskCreate, TaskList, TaskRecord, TaskUpdate
from shared.ids import new_id

COLUMNS = "id, title, notes, done, created_at, updated_at"

LIST = f"""
SELECT {COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY created_at, id
"""
CREATE = f"""
INSERT INTO tasks (id, user_id, title, notes) VALUES ($1, $2, $3, $4)
RETURNING {COLUMNS}
"""
# NULL leaves a field as it is.
UPDATE = f"""
UPDATE tasks SET
    title = COALESCE($3, title),
    notes = COALESCE($4, notes),
    done = COALESCE($5, done),
    updated_at = now()
WHERE id = $1 AND user_id = $2
RETURNING {COLUMNS}
"""
DELETE = "DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING id"


def _record(row: Record) -> TaskRecord:
    return TaskRecord.model_validate(dict(row))


async def list_tasks(db: Executor, user_id: str) -> TaskList:
    """The user's tasks, oldest first."""
    rows = await db.fetch(LIST, user_id)
    return TaskList(data=[_record(row) for row in rows])


async def create_task(db: Executor, user_id: str, task: TaskCreate) -> TaskRecord:
    """Add a task with a fresh ``task_`` id."""
    row = await db.fetchrow(CREATE, new_id("task"), user_id, task.title, task.notes)
    if row is None:
        raise RuntimeError("INSERT ... RETURNING answered no row")
    return _record(row)


async def update_task(
    db: Executor, user_id: str, task_id: str, update: TaskUpdate
) -> TaskRecord:
    """Change the given fields of the user's task; ``NotFound`` otherwise."""
    row = await db.fetchrow(
        UPDATE, task_id, user_id, update.title, update.notes, update.done
    )
    if row is None:
        raise NotFound("task")
    return _record(row)


async def delete_task(db: Executor, user_id: str, task_id: str) -> None:
    """Delete the user's task; ``NotFound`` otherwise."""
    if await db.fetchval(DELETE, task_id, user_id) is None:
        raise NotFound("task")
