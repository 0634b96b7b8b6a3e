"""threads.sync_custom_action and input.transcribe: short jobs answered by the worker.

The WorkerDouble takes the queued job and writes its arq result the way arq's
worker does; the gateway reads it back and answers JSON.
"""

import asyncio
import base64
from typing import Any

import httpx
from arq.constants import job_key_prefix
from chatkit.types import SyncCustomActionResponse, TranscriptionResult, WidgetItem
from chatkit.widgets import Card, Text

from shared.history_api import ErrorBody
from shared.ids import new_id
from shared.jobs import (
    SYNC_ACTION_JOB,
    TRANSCRIBE_JOB,
    SyncActionJob,
    SyncActionReply,
    TranscribeJob,
    TranscribeReply,
)
from testkit.chatkit_client import ChatKitClient
from testkit.tokens import auth_headers, jwt_for

from .flows import answer_item, done, new_thread, task_widget
from .worker_double import QueuedJob, WorkerDouble

AUDIO = base64.b64encode(b"\x1aE\xdf\xa3 webm bytes").decode()


def _sync_body(thread_id: str, item_id: str | None) -> dict[str, Any]:
    action = {"type": "tasks.toggle", "payload": {"task_id": "task_1"}}
    params = {"thread_id": thread_id, "item_id": item_id, "action": action}
    return {"type": "threads.sync_custom_action", "params": params}


def _transcribe_body(mime_type: str = "audio/webm;codecs=opus") -> dict[str, Any]:
    params = {"audio_base64": AUDIO, "mime_type": mime_type}
    return {"type": "input.transcribe", "params": params}


async def _served(
    http: httpx.AsyncClient,
    worker: WorkerDouble,
    user: str,
    body: dict[str, Any],
    function: str,
    answer: Any,
) -> tuple[httpx.Response, QueuedJob]:
    """POST ``body`` while the worker answers its job with ``answer(job)``."""
    request = asyncio.create_task(
        http.post("/chatkit", json=body, headers=auth_headers(user))
    )
    queued = await worker.take(function)
    await answer(queued)
    return await request, queued


async def test_sync_action_answers_the_workers_updated_item(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = new_id("req")
    thread_id = await new_thread(http, worker, user, done(task_widget))
    widget = (await ChatKitClient(http, jwt_for(user)).list_items(thread_id)).data[-1]
    assert isinstance(widget, WidgetItem)
    toggled = widget.model_copy(update={"widget": Card(children=[Text(value="Done")])})

    async def reply(queued: QueuedJob) -> None:
        await worker.reply(queued, SyncActionReply(updated_item=toggled))

    response, queued = await _served(
        http, worker, user, _sync_body(thread_id, widget.id), SYNC_ACTION_JOB, reply
    )
    assert response.status_code == 200, response.text
    answer = SyncCustomActionResponse.model_validate_json(response.content)
    assert answer.updated_item == toggled
    job = SyncActionJob.model_validate(queued.payload)
    assert (job.thread_id, job.user_id, job.item_id) == (thread_id, user, widget.id)
    assert job.action.type == "tasks.toggle"
    assert job.action.payload == {"task_id": "task_1"}
    assert job.request_id == response.headers["x-request-id"]


async def test_sync_action_without_an_update_is_an_empty_object_like_the_sdk(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = new_id("req")
    thread_id = await new_thread(http, worker, user)

    async def reply(queued: QueuedJob) -> None:
        await worker.reply(queued, SyncActionReply())

    response, _ = await _served(
        http, worker, user, _sync_body(thread_id, None), SYNC_ACTION_JOB, reply
    )
    assert response.status_code == 200, response.text
    assert response.content == b"{}"


async def test_sync_action_the_app_refuses_is_422_action_failed_with_its_message(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = new_id("req")
    thread_id = await new_thread(http, worker, user)

    async def reply(queued: QueuedJob) -> None:
        await worker.reply(queued, SyncActionReply(error="Unknown action x."))

    response, _ = await _served(
        http, worker, user, _sync_body(thread_id, None), SYNC_ACTION_JOB, reply
    )
    assert response.status_code == 422
    error = ErrorBody.model_validate_json(response.content)
    assert (error.error, error.detail) == (
        "action_failed",
        "threads.sync_custom_action: Unknown action x.",
    )


async def test_sync_action_job_that_crashed_is_502_worker_error(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = new_id("req")
    thread_id = await new_thread(http, worker, user)
    response, _ = await _served(
        http, worker, user, _sync_body(thread_id, None), SYNC_ACTION_JOB, worker.crash
    )
    assert response.status_code == 502
    assert ErrorBody.model_validate_json(response.content).error == "worker_error"


async def test_sync_action_checks_the_sender_before_any_job_is_queued(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    user = new_id("req")
    thread_id = await new_thread(
        http, worker, user, done(lambda t: answer_item(t, "no widget here"))
    )
    answer = (await ChatKitClient(http, jwt_for(user)).list_items(thread_id)).data[-1]
    cases = [
        (user, _sync_body(thread_id, answer.id), 422, "not_a_widget"),
        (user, _sync_body(thread_id, "msg_gone"), 404, "not_found"),
        (new_id("req"), _sync_body(thread_id, None), 404, "not_found"),
        (user, _sync_body("thr_gone", None), 404, "not_found"),
    ]
    queued_before = await worker.redis.zcard(worker.queue)
    for caller, body, status, code in cases:
        response = await http.post("/chatkit", json=body, headers=auth_headers(caller))
        assert response.status_code == status, response.text
        assert ErrorBody.model_validate_json(response.content).error == code
    assert await worker.redis.zcard(worker.queue) == queued_before


async def test_transcribe_answers_the_workers_text(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    async def reply(queued: QueuedJob) -> None:
        await worker.reply(queued, TranscribeReply(text="transcript of 18 bytes"))

    response, queued = await _served(
        http, worker, "u1", _transcribe_body(), TRANSCRIBE_JOB, reply
    )
    assert response.status_code == 200, response.text
    result = TranscriptionResult.model_validate_json(response.content)
    assert result.text == "transcript of 18 bytes"
    job = TranscribeJob.model_validate(queued.payload)
    assert (job.user_id, job.audio_base64) == ("u1", AUDIO)
    assert job.mime_type == "audio/webm;codecs=opus"


async def test_transcribe_without_a_provider_is_501_and_a_provider_failure_502(
    http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    for error, status, code in [
        ("unavailable", 501, "transcription_unavailable"),
        ("failed", 502, "transcription_failed"),
    ]:

        async def reply(queued: QueuedJob, error: Any = error) -> None:
            await worker.reply(queued, TranscribeReply(error=error))

        response, _ = await _served(
            http, worker, "u1", _transcribe_body(), TRANSCRIBE_JOB, reply
        )
        assert response.status_code == status, response.text
        assert ErrorBody.model_validate_json(response.content).error == code


async def test_short_job_no_worker_answers_is_504_and_expires_unstarted(
    bare_http: httpx.AsyncClient, worker: WorkerDouble
) -> None:
    response = await bare_http.post(
        "/chatkit", json=_transcribe_body(), headers=auth_headers("u1")
    )
    assert response.status_code == 504
    assert ErrorBody.model_validate_json(response.content).error == "worker_timeout"
    # The job's payload is gone with its expiry: a late worker never runs it.
    queued = [j.decode() for j in await worker.redis.zrange(worker.queue, 0, -1)]
    short_jobs = [job_id for job_id in queued if job_id.startswith("sync_")]
    assert short_jobs
    await asyncio.sleep(0.1)
    for job_id in short_jobs:
        assert await worker.redis.get(job_key_prefix + job_id) is None
