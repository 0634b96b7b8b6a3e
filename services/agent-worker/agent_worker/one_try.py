"""arq 0.28's `Worker.run_job` for jobs that get exactly one try.

arq reads a job with a MULTI of GET job, INCR + EXPIRE of its retry counter,
and finishes it with a MULTI of DEL (in-progress, retry and job keys), ZREM of
the abort set and ZREM of the queue: ten commands per job. Our jobs get one
try and are never aborted through arq, so a job costs a GET, then a ZREM and a
DEL (and the SET of its result if its function keeps one):

- the retry counter only stops a job from running a second time once its
  in-progress key has expired (its worker died). An agent run cannot run twice
  anyway: history lets only a queued run be claimed. A short job's key
  expires with its caller's timeout, long before its in-progress key.
- the finish needs no MULTI: one connection runs the pipeline in order, and
  the result is stored before the job leaves the queue, which leaves the
  queue before its in-progress key goes, so neither the caller waiting for
  the result (`Job.result` gives up on a job with neither) nor another
  worker (which would claim a queued job without an in-progress key) sees
  a gap.

A failure is the job's result, as in arq with `retry_jobs=False`: a timeout,
an exception or a cancellation (shutdown) finishes the job. arq's
`on_job_start`/`on_job_end`/`after_job_end` hooks, cron jobs and aborts are
not supported (`check_supported`).
"""

import asyncio
from typing import Any, NamedTuple

import structlog
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import SerializationError, deserialize_job_raw, serialize_result
from arq.utils import ms_to_datetime, timestamp_ms, to_ms
from arq.worker import Function, Worker

log = structlog.get_logger("agent_worker.one_try")


def check_supported(worker: Worker) -> None:
    """Refuse arq options that `run_once` does not honour."""
    hooks = (worker.on_job_start, worker.on_job_end, worker.after_job_end)
    if any(hook is not None for hook in hooks) or worker.allow_abort_jobs:
        raise ValueError("job hooks and aborts are not supported")
    if worker.max_tries != 1 or worker.retry_jobs:
        raise ValueError("jobs get one try: max_tries=1, retry_jobs=False")
    for function in worker.functions.values():
        if not isinstance(function, Function) or function.max_tries not in (None, 1):
            raise ValueError(f"{function.name}: only one-try functions")


class _Job(NamedTuple):
    function: Function
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    enqueue_ms: int


async def run_once(worker: Worker, job_id: str, score: int) -> None:
    """Run a claimed job (its in-progress key is set) to its end."""
    job = _parse(worker, job_id, await worker.pool.get(job_key_prefix + job_id))
    if job is None:
        worker.jobs_failed += 1
        await asyncio.shield(_finish(worker, job_id, None, None))
        return
    start_ms = timestamp_ms()
    success, result = await _call(worker, job_id, score, job)
    keep_s = _keep_result_s(worker, job.function)
    reply = None
    if keep_s != 0:
        name = job.function.name
        reply = serialize_result(
            name,
            job.args,
            job.kwargs,
            1,
            job.enqueue_ms,
            success,
            result,
            start_ms,
            timestamp_ms(),
            f"{job_id}:{name}",
            worker.queue_name,
            job_id=job_id,
            serializer=worker.job_serializer,
        )
    await asyncio.shield(_finish(worker, job_id, reply, keep_s))


async def _call(worker: Worker, job_id: str, score: int, job: _Job) -> tuple[bool, Any]:
    """(success, result or error) of the job's function, within its timeout."""
    function = job.function
    ctx = {
        **worker.ctx,
        "job_id": job_id,
        "job_try": 1,
        "enqueue_time": ms_to_datetime(job.enqueue_ms),
        "score": score,
    }
    timeout_s = (
        worker.job_timeout_s if function.timeout_s is None else function.timeout_s
    )
    task = worker.loop.create_task(function.coroutine(ctx, *job.args, **job.kwargs))
    worker.job_tasks[job_id] = task
    try:
        result = await asyncio.wait_for(task, timeout_s)
    except (Exception, asyncio.CancelledError) as error:
        log.error("job failed", job_id=job_id, function=function.name, exc_info=error)
        worker.jobs_failed += 1
        return False, error
    finally:
        del worker.job_tasks[job_id]
    worker.jobs_complete += 1
    return True, result


def _parse(worker: Worker, job_id: str, data: bytes | None) -> _Job | None:
    """The job to run; None (logged) if it cannot run."""
    if data is None:
        log.warning("job expired", job_id=job_id)
        return None
    try:
        name, args, kwargs, _, enqueue_ms = deserialize_job_raw(
            data, deserializer=worker.job_deserializer
        )
    except SerializationError:
        log.exception("job unreadable", job_id=job_id)
        return None
    function: Function | None = worker.functions.get(name)
    if function is None:
        log.warning("job function not found", job_id=job_id, function=name)
        return None
    return _Job(function, tuple(args), dict(kwargs), enqueue_ms)


def _keep_result_s(worker: Worker, function: Function) -> float | None:
    """How long the job's result is kept (None: forever), 0 for not at all."""
    forever = function.keep_result_forever
    if forever if forever is not None else worker.keep_result_forever:
        return None
    keep = function.keep_result_s
    return float(keep if keep is not None else worker.keep_result_s)


async def _finish(
    worker: Worker, job_id: str, reply: bytes | None, keep_s: float | None
) -> None:
    """Result first, then out of the queue, then the job's keys (see above)."""
    async with worker.pool.pipeline(transaction=False) as pipe:
        if reply is not None:
            pipe.set(result_key_prefix + job_id, reply, px=to_ms(keep_s))
        pipe.zrem(worker.queue_name, job_id)
        pipe.delete(in_progress_key_prefix + job_id, job_key_prefix + job_id)
        await pipe.execute()
