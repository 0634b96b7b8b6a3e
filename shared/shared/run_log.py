"""A run's bounded event log in Redis: the one place its format is defined.

Each message a worker publishes on the run's channel is also appended to the
stream ``run_log(run_id)`` under the entry id ``<seq>-0`` with one field,
``data``, holding the same bytes. A reader resumes after sequence number N with
``XRANGE (N-0 +``. Entries are trimmed to about ``maxlen`` and the stream expires
``ttl_s`` after the last write that set its expiry: a writer may skip the EXPIRE
on most appends (``expire=False``) as long as it renews it well within ``ttl_s``
and on the run's last append.
"""

from collections.abc import Sequence

from chatkit.types import ErrorEvent
from redis.asyncio import Redis

from shared.events import (
    RUN_MESSAGE_ADAPTER,
    RunEnded,
    RunEvent,
    dump_run_message,
)
from shared.redis_keys import run_events_channel, run_log

LOG_FIELD = "data"
RunMessage = RunEvent | RunEnded


def entry_id(seq: int) -> str:
    """The stream entry id of sequence number ``seq``."""
    return f"{seq}-0"


def seq_of(entry: bytes | str) -> int:
    """The sequence number of a stream entry id."""
    text = entry.decode() if isinstance(entry, bytes) else entry
    return int(text.split("-", 1)[0])


async def append(
    redis: "Redis",
    run_id: str,
    messages: Sequence[RunMessage],
    *,
    maxlen: int,
    ttl_s: int,
    expire: bool = True,
) -> None:
    """PUBLISH and log ``messages`` in one pipeline (one round trip).

    With ``expire=False`` the log's expiry is left as it is (one command less
    per append); the caller must renew it in time.
    """
    channel, log = run_events_channel(run_id), run_log(run_id)
    async with redis.pipeline(transaction=False) as pipe:
        for message in messages:
            data = dump_run_message(message)
            pipe.publish(channel, data)
            pipe.xadd(
                log,
                {LOG_FIELD: data},
                id=entry_id(message.seq),
                maxlen=maxlen,
                approximate=True,
            )
        if expire:
            pipe.expire(log, ttl_s)
        await pipe.execute()


async def read_after(
    redis: "Redis", run_id: str, after_seq: int = 0
) -> list[RunMessage]:
    """The logged messages with a sequence number above ``after_seq``, in order."""
    entries = await redis.xrange(run_log(run_id), min=f"({entry_id(after_seq)}")
    return [
        RUN_MESSAGE_ADAPTER.validate_json(fields[LOG_FIELD.encode()])
        for _, fields in entries
    ]


async def last_seq(redis: "Redis", run_id: str) -> int:
    """The highest logged sequence number (0 when the log is empty or gone)."""
    entries = await redis.xrevrange(run_log(run_id), count=1)
    return seq_of(entries[0][0]) if entries else 0


async def end_with_failure(
    redis: "Redis", run_id: str, *, maxlen: int, ttl_s: int
) -> bool:
    """Close a run whose worker is gone: a retryable error, then RunEnded(failed).

    Does nothing (and answers False) when the log already holds the run's end.
    Used by whoever finds the run's lease expired (a worker's reaper, a gateway).
    """
    tail = await redis.xrevrange(run_log(run_id), count=1)
    if tail:
        last = RUN_MESSAGE_ADAPTER.validate_json(tail[0][1][LOG_FIELD.encode()])
        if isinstance(last, RunEnded):
            return False
    seq = seq_of(tail[0][0]) if tail else 0
    error = RunEvent(
        run_id=run_id,
        seq=seq + 1,
        event=ErrorEvent(code="stream.error", allow_retry=True),
    )
    ended = RunEnded(run_id=run_id, seq=seq + 2, status="failed")
    await append(redis, run_id, [error, ended], maxlen=maxlen, ttl_s=ttl_s)
    return True
