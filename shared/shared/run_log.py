"""A run's bounded event log in Redis: the one place its format is defined.

A worker sends a run's messages in batches. A batch is one or more messages,
each serialized by ``dump_run_message`` (compact JSON, so never a raw newline)
and joined by ``\\n``; a one-message batch is just that message's bytes. Each
batch is one PUBLISH on the run's channel and one entry of the stream
``run_log(run_id)``, with one field, ``data``, holding the same bytes, under
the entry id ``<seq>-0`` of the batch's LAST message. Sequence numbers have
no gaps, within a batch and across batches.

A reader resumes after sequence number N with ``XRANGE (N-0 +``: every entry
holding a message above N has an id above N, and the messages up to N in the
first of them are skipped (``read_after`` does both). Entries are trimmed to
about ``maxlen`` batches and the stream expires ``ttl_s`` after the last
write that set its expiry: a writer may skip the EXPIRE on most appends
(``expire=False``) as long as it renews it well within ``ttl_s``.
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
SEPARATOR = b"\n"
"""Between the messages of a batch (JSON escapes every newline in a string)."""
RunMessage = RunEvent | RunEnded


def entry_id(seq: int) -> str:
    """The stream entry id of sequence number ``seq``."""
    return f"{seq}-0"


def seq_of(entry: bytes | str) -> int:
    """The sequence number of a stream entry id (its batch's last message)."""
    text = entry.decode() if isinstance(entry, bytes) else entry
    return int(text.split("-", 1)[0])


def dump_batch(messages: Sequence[RunMessage]) -> bytes:
    """The bytes of a batch: what is published and logged."""
    return SEPARATOR.join(dump_run_message(message) for message in messages)


def split_batch(data: bytes) -> list[bytes]:
    """The serialized messages of a batch, each as ``dump_run_message`` wrote it."""
    return data.split(SEPARATOR)


def parse_batch(data: bytes) -> list[RunMessage]:
    """The typed messages of a batch (``ValidationError`` if one is not ours)."""
    return [RUN_MESSAGE_ADAPTER.validate_json(line) for line in split_batch(data)]


async def append(
    redis: "Redis",
    run_id: str,
    messages: Sequence[RunMessage],
    *,
    maxlen: int,
    ttl_s: int,
    expire: bool = True,
) -> None:
    """PUBLISH and log ``messages`` as one batch, in one pipeline (one round trip).

    With ``expire=False`` the log's expiry is left as it is (one command less
    per append); the caller must renew it in time.
    """
    channel, log = run_events_channel(run_id), run_log(run_id)
    async with redis.pipeline(transaction=False) as pipe:
        if messages:
            data = dump_batch(messages)
            pipe.publish(channel, data)
            pipe.xadd(
                log,
                {LOG_FIELD: data},
                id=entry_id(messages[-1].seq),
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
        message
        for _, fields in entries
        for message in parse_batch(fields[LOG_FIELD.encode()])
        if message.seq > after_seq
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
        last = split_batch(tail[0][1][LOG_FIELD.encode()])[-1]
        if isinstance(RUN_MESSAGE_ADAPTER.validate_json(last), RunEnded):
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
