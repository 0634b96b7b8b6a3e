"""The worker's one control subscriber: cancel signals of every run it is serving.

A single pub/sub connection per worker process holds one pattern subscription
to every run's `run_control_channel` for the life of the process, so serving a
run costs no SUBSCRIBE or UNSUBSCRIBE: `watch` only registers the run's asyncio
event, which any message on that run's channel sets (messages of runs served
elsewhere are ignored; cancels are rare). A cancel signalled before the run was
registered costs no Redis read either: the gateway persists a cancel in history
before it signals, and the worker registers a run before it claims it, so such
a cancel is in the claim's answer (the run's `cancel_requested`). The cancel
key `run_cancel(run_id)` of every watched run is read once a reconnect's
subscription is confirmed (a message published while the connection was down is
lost). The persisted cancel flag, read by the run's heartbeat, is the last
resort when Redis drops both.
"""

import asyncio
import contextlib

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from shared.redis_keys import run_cancel, run_control_channel

CONTROL_CLIENT_NAME = "agent-worker.control"
CONTROL_PATTERN = run_control_channel("*")
"""Every run's control channel (run ids never hold glob characters)."""
START_TIMEOUT_S = 5.0
"""How long startup waits for the first connection (the reader keeps trying)."""
KEY_CHECK_TIMEOUT_S = 2.0
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0

log = structlog.get_logger("agent_worker.control")


class ControlChannel:
    """Per-run cancel events fed by one multiplexed subscription."""

    def __init__(self, redis_url: str) -> None:
        # No socket timeout: the connection is quiet until someone cancels.
        self._redis: Redis = Redis.from_url(
            redis_url,
            client_name=CONTROL_CLIENT_NAME,
            socket_timeout=None,
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        self._watched: dict[bytes, tuple[str, asyncio.Event]] = {}
        """Channel -> (run id, cancel event) of every run served here."""
        self._connected = asyncio.Event()
        self._backoff = BACKOFF_FIRST_S
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the reader task, which connects and reconnects by itself."""
        self._reader = asyncio.create_task(self._read_forever(), name="control")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(START_TIMEOUT_S):
                await self._connected.wait()

    async def stop(self) -> None:
        """Stop the reader and close the connections."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._redis.aclose(close_connection_pool=True)

    def watch(self, run_id: str) -> asyncio.Event:
        """The run's cancel event, set by a cancel signalled from now on.

        Register the run before claiming it: a cancel signalled earlier was
        persisted earlier, so the claim's answer carries it.
        """
        event = asyncio.Event()
        self._watched[run_control_channel(run_id).encode()] = (run_id, event)
        return event

    def unwatch(self, run_id: str) -> None:
        """Forget the run: it ended on this worker (no Redis command)."""
        self._watched.pop(run_control_channel(run_id).encode(), None)

    async def _cancel_key_set(self, run_ids: list[str]) -> list[str]:
        """Those of `run_ids` whose cancel key exists (none if Redis is away)."""
        try:
            async with asyncio.timeout(KEY_CHECK_TIMEOUT_S):
                found = await self._redis.mget([run_cancel(r) for r in run_ids])
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("cancel key check failed", error_type=type(error).__name__)
            return []
        return [
            run_id
            for run_id, value in zip(run_ids, found, strict=True)
            if value is not None
        ]

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read_connection()
            except (RedisError, OSError) as error:
                log.warning(
                    "control subscription lost",
                    error_type=type(error).__name__,
                    retry_in_s=self._backoff,
                )
            except Exception:
                # A bug here must not leave the process deaf to every cancel.
                log.exception("control reader failed")
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    async def _read_connection(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            await pubsub.execute_command("PSUBSCRIBE", CONTROL_PATTERN)
            await self._read_messages(pubsub, until=b"psubscribe")
            self._backoff = BACKOFF_FIRST_S
            self._connected.set()
            await self._recheck_keys(list(self._watched))
            await self._read_messages(pubsub)
        finally:
            self._connected.clear()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read_messages(self, pubsub: PubSub, until: bytes | None = None) -> None:
        """Dispatch what arrives; return after a reply of kind ``until``."""
        while True:
            connection = pubsub.connection
            # parse_response() would silently reconnect without our pattern;
            # a fresh cycle subscribes it again instead.
            if connection is None or not connection.is_connected:
                raise RedisError("control connection lost")
            response = await pubsub.parse_response(block=True)
            self._dispatch(response)
            if isinstance(response, list) and response and response[0] == until:
                return

    async def _recheck_keys(self, channels: list[bytes]) -> None:
        """Cancels sent while the connection was down left their key behind."""
        watched = [self._watched[c] for c in channels if c in self._watched]
        events = dict(watched)
        if not events:
            return
        for run_id in await self._cancel_key_set(list(events)):
            events[run_id].set()

    def _dispatch(self, response: object) -> None:
        if not isinstance(response, list) or len(response) < 4:
            return
        if response[0] == b"pmessage":
            watched = self._watched.get(response[2])
            if watched is not None:
                watched[1].set()
