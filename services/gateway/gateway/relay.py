"""One multiplexed Redis subscriber per gateway process, fanned out to per-run queues.

A single pub/sub connection (no socket timeout: a run may be quiet for minutes)
carries every run channel this process streams. The reader task parses each
published batch once and offers its messages, one by one, to the bounded queue
of every subscription of that run; it never awaits a client, so a slow client
cannot hold up the others. A subscription whose queue is full is dropped with a
marker instead. Channels left without subscribers are unsubscribed in batches,
at most every ``UNSUBSCRIBE_BATCH_S``.

After a lost connection the reader reconnects with backoff, subscribes again to
every channel that still has subscribers and fills the gap from each run's log
(``shared.run_log``); live messages wait until the gap is filled, and the
per-client sequence check drops what was already delivered. If Redis itself is
gone (the first reconnect fails) or came back as a new server (a restart: what
was published meanwhile is lost), every subscription is dropped with
``redis_lost``, so each client gets a retryable error instead of a gap; the
reader keeps reconnecting on its own.
"""

import asyncio
import contextlib
import time
from collections import Counter

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from gateway.live_event import parse_batch
from gateway.subscription import DropReason, RelayMessage, Subscription
from shared import run_log
from shared.redis_keys import run_events_channel

log = structlog.get_logger(__name__)

SUBSCRIBE_TIMEOUT_S = 5.0
"""How long a new stream waits for Redis to confirm its subscription."""
PING_INTERVAL_S = 20.0
"""A quiet pub/sub connection is pinged this often; a dead one is replaced."""
BACKFILL_TIMEOUT_S = 5.0
"""The relay's command connection has no socket timeout (pub/sub needs none)."""
UNSUBSCRIBE_BATCH_S = 0.5
"""An orphaned channel waits this long, so that one UNSUBSCRIBE serves many
ended runs (nothing is published on a run's channel after its end)."""
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0
DEFAULT_QUEUE_SIZE = 2048
"""Events one client may lag behind before it is dropped (coalesced deltas:
thousands of events are minutes of answer)."""


class RelayUnavailableError(Exception):
    """Redis did not confirm a subscription in time."""


class Relay:
    """The process-wide subscriber. ``start()`` in the lifespan, ``stop()`` after."""

    def __init__(
        self,
        redis_url: str,
        *,
        client_name: str = "gateway.relay",
        queue_size: int = DEFAULT_QUEUE_SIZE,
        subscribe_timeout_s: float = SUBSCRIBE_TIMEOUT_S,
    ) -> None:
        self._redis: Redis = Redis.from_url(
            redis_url,
            client_name=client_name,
            socket_timeout=None,
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        self._queue_size = queue_size
        self._subscribe_timeout_s = subscribe_timeout_s
        self._subs: dict[bytes, set[Subscription]] = {}
        self._unconfirmed: Counter[bytes] = Counter()
        self._confirmed: set[bytes] = set()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._to_unsubscribe: set[bytes] = set()
        self._janitor_wake = asyncio.Event()
        self._pubsub: PubSub | None = None
        self._ready = False
        self._last_seen = time.monotonic()
        self._was_up = False
        self._server: str | None = None
        self._generation = 0
        self._backfilling: dict[bytes, list[RelayMessage]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._backfills: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """Whether the pub/sub connection is up right now."""
        return self._ready

    async def start(self) -> None:
        """Start the reader and the janitor tasks."""
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="relay.reader"),
            asyncio.create_task(self._janitor(), name="relay.janitor"),
        ]

    async def stop(self) -> None:
        """Stop the tasks, end every subscription, close the connection."""
        tasks = [*self._tasks, *self._backfills]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drop_all("shutdown")
        await self._redis.aclose(close_connection_pool=True)

    def _drop_all(self, reason: DropReason) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.drop(reason)

    async def subscribe(self, run_id: str) -> Subscription:
        """Subscribe to a run; returns once Redis confirmed, so no event is missed."""
        sub = Subscription(run_id, self._queue_size, on_close=self.detach)
        channel = sub.channel
        subs = self._subs.setdefault(channel, set())
        subs.add(sub)
        if channel in self._confirmed:
            return sub
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        self._to_unsubscribe.discard(channel)
        if len(subs) == 1:
            await self._send_subscribe([channel])
        try:
            async with asyncio.timeout(self._subscribe_timeout_s):
                await waiter
        except TimeoutError:
            sub.close()
            raise RelayUnavailableError(
                "Redis did not confirm the subscription"
            ) from None
        return sub

    def detach(self, sub: Subscription) -> None:
        """Forget a subscription; the janitor unsubscribes an orphaned channel."""
        subs = self._subs.get(sub.channel)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.channel]
            self._confirmed.discard(sub.channel)
            self._to_unsubscribe.add(sub.channel)
            self._janitor_wake.set()

    def subscriber_count(self, run_id: str) -> int:
        """How many streams of this process follow the run."""
        return len(self._subs.get(run_events_channel(run_id).encode(), ()))

    # the reader

    async def _read_forever(self) -> None:
        backoff = BACKOFF_FIRST_S
        while True:
            try:
                await self._read_connection()
            except (RedisError, OSError) as exc:
                log.warning("relay_disconnected", error=str(exc), retry_in_s=backoff)
            except Exception:
                # A bug here must not leave every stream of the process hanging.
                log.exception("relay_reader_failed")
            finally:
                await self._reset_connection()
            if not self._was_up and self._subs:
                # Redis is gone, not just this connection: end every stream
                # with a retryable error rather than leave it hanging.
                log.warning("relay_redis_lost", streams=self.stream_count)
                self._drop_all("redis_lost")
            backoff = (
                BACKOFF_FIRST_S if self._was_up else min(backoff * 2, BACKOFF_MAX_S)
            )
            await asyncio.sleep(backoff)

    async def _read_connection(self) -> None:
        self._was_up = False
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        await pubsub.connect()  # type: ignore[no-untyped-call]
        await self._check_server(pubsub)
        self._ready = True
        self._was_up = True
        self._last_seen = time.monotonic()
        self._generation += 1
        channels = list(self._subs)
        # Messages published while we were away are in the run logs: hold the
        # live ones until each gap is filled (see _backfill).
        self._backfilling = {channel: [] for channel in channels}
        log.info("relay_connected", channels=len(channels))
        if channels:
            await self._send_subscribe(channels)
        while True:
            connection = pubsub.connection
            # parse_response() would silently reconnect a dropped connection
            # without our channels; a fresh cycle resubscribes them instead.
            if connection is None or not connection.is_connected:
                raise RedisError("pub/sub connection lost")
            response = await pubsub.parse_response(block=True)
            self._last_seen = time.monotonic()
            self._dispatch(response)

    async def _check_server(self, pubsub: PubSub) -> None:
        """Drop every stream if Redis restarted: its messages meanwhile are lost."""
        connection = pubsub.connection
        assert connection is not None  # just connected
        try:
            # On the pub/sub connection itself (not yet subscribed): no second
            # connection per process just for this.
            async with asyncio.timeout(BACKFILL_TIMEOUT_S):
                await connection.send_command("INFO", "server")
                info = await connection.read_response()
        except ResponseError:
            return  # INFO disabled (some managed offerings): cannot tell
        server = _run_id_of(info)
        if self._server is not None and server != self._server and self._subs:
            log.warning("relay_redis_restarted", streams=self.stream_count)
            self._drop_all("redis_lost")
        self._server = server

    @property
    def stream_count(self) -> int:
        """How many client streams this process relays right now."""
        return sum(len(subs) for subs in self._subs.values())

    async def _reset_connection(self) -> None:
        self._ready = False
        self._backfilling = {}
        self._confirmed.clear()
        self._unconfirmed.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, response: object) -> None:
        if not isinstance(response, list) or len(response) < 2:
            return  # PONG outside subscribed mode
        kind = response[0]
        if kind == b"message":
            self._deliver(response[1], response[2])
        elif kind == b"subscribe":
            self._confirm(response[1])
        elif kind == b"unsubscribe":
            self._confirmed.discard(response[1])

    def _deliver(self, channel: bytes, data: bytes) -> None:
        if channel not in self._subs:
            return
        held = self._backfilling.get(channel)
        for message in _parse(channel, data):
            if held is not None:
                held.append(message)
            else:
                self._fan_out(channel, message)

    def _fan_out(self, channel: bytes, message: RelayMessage) -> None:
        for sub in list(self._subs.get(channel, ())):
            if not sub.offer(message):
                log.warning("relay_client_dropped", run_id=sub.run_id)
                sub.drop("overflow")

    def _confirm(self, channel: bytes) -> None:
        remaining = self._unconfirmed[channel] - 1
        if remaining > 0:
            self._unconfirmed[channel] = remaining
            return
        self._unconfirmed.pop(channel, None)
        if channel not in self._subs:
            return
        self._confirmed.add(channel)
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)
        if channel in self._backfilling:
            task = asyncio.create_task(self._backfill(channel, self._generation))
            self._backfills.add(task)
            task.add_done_callback(self._backfills.discard)

    async def _backfill(self, channel: bytes, generation: int) -> None:
        """Deliver what the run logged while we were not subscribed, then the held."""
        subs = self._subs.get(channel)
        if not subs:
            self._backfilling.pop(channel, None)
            return
        run_id = next(iter(subs)).run_id
        after = min(sub.last_seq for sub in subs)
        logged: list[RelayMessage] = []
        try:
            async with asyncio.timeout(BACKFILL_TIMEOUT_S):
                logged.extend(await run_log.read_after(self._redis, run_id, after))
        except (RedisError, OSError, TimeoutError, ValidationError) as exc:
            log.warning("relay_backfill_failed", run_id=run_id, error=str(exc))
        if generation != self._generation:
            return  # reconnected again meanwhile: that cycle fills the gap
        held = self._backfilling.pop(channel, [])
        for message in [*logged, *held]:
            self._fan_out(channel, message)

    async def _send_subscribe(self, channels: list[bytes]) -> None:
        pubsub = self._pubsub
        if not self._ready or pubsub is None:
            return  # the next connection subscribes every wanted channel
        self._unconfirmed.update(channels)
        try:
            await pubsub.execute_command("SUBSCRIBE", *channels)
        except (RedisError, OSError) as exc:
            # The reader sees the same broken socket and starts over.
            log.warning("relay_subscribe_failed", error=str(exc))

    # the janitor: batched unsubscribes and a liveness ping

    async def _janitor(self) -> None:
        while True:
            try:
                async with asyncio.timeout(PING_INTERVAL_S):
                    await self._janitor_wake.wait()
            except TimeoutError:
                await self._check_alive()
                continue
            self._janitor_wake.clear()
            await asyncio.sleep(UNSUBSCRIBE_BATCH_S)
            await self._unsubscribe_orphans()

    async def _unsubscribe_orphans(self) -> None:
        channels = [c for c in self._to_unsubscribe if c not in self._subs]
        self._to_unsubscribe.clear()
        pubsub = self._pubsub
        if not channels or not self._ready or pubsub is None:
            return
        for waiter_channel in channels:
            self._waiters.pop(waiter_channel, None)
        try:
            await pubsub.execute_command("UNSUBSCRIBE", *channels)
        except (RedisError, OSError) as exc:
            log.warning("relay_unsubscribe_failed", error=str(exc))

    async def _check_alive(self) -> None:
        pubsub = self._pubsub
        if not self._ready or pubsub is None:
            return
        if time.monotonic() - self._last_seen > 3 * PING_INTERVAL_S:
            log.warning("relay_connection_silent")
            if pubsub.connection is not None:
                await pubsub.connection.disconnect()
            return
        try:
            await pubsub.execute_command("PING")
        except (RedisError, OSError) as exc:
            log.warning("relay_ping_failed", error=str(exc))


def _run_id_of(info: object) -> str | None:
    """The ``run_id`` line of an INFO answer: it changes when Redis restarts."""
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("run_id:"):
            return line.removeprefix("run_id:").strip()
    return None


def _parse(channel: bytes, data: bytes) -> list[RelayMessage]:
    messages = parse_batch(data)
    if None in messages:
        log.warning("relay_unreadable_message", channel=channel.decode())
    return [message for message in messages if message is not None]
