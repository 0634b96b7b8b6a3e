"""A small TCP proxy that a test can pause, to make a server unreachable for a while.

It listens on 127.0.0.1 and forwards each connection to a TCP address or a unix
socket. ``pause()`` cuts every open connection and then either refuses new ones
(accept and reset at once: clients fail fast) or holds them (no answer until
``resume()``: clients wait, as behind a stalled network). The proxy runs its
own event loop in a thread, so it keeps forwarding while the test's loop or
thread is blocked (a service starting up, a synchronous wait).
"""

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from testkit.processes import free_port

T = TypeVar("T")
CHUNK = 64 * 1024
CONTROL_TIMEOUT_S = 10.0

PauseMode = Literal["refuse", "hold"]


@dataclass(frozen=True)
class TcpTarget:
    """Where the proxy forwards to: ``host``/``port``, or a unix socket ``path``."""

    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def of(cls, address: tuple[str, int] | str) -> "TcpTarget":
        """From ``(host, port)`` or a unix socket path."""
        if isinstance(address, str):
            return cls(path=address)
        return cls(host=address[0], port=address[1])

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a connection to the target."""
        if self.path:
            return await asyncio.open_unix_connection(self.path)
        return await asyncio.open_connection(self.host, self.port)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target`` until stopped."""

    def __init__(self, target: TcpTarget) -> None:
        self.target = target
        self.port = free_port()
        self.accepted = 0
        """Connections accepted so far (refused ones included)."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._pause_mode: PauseMode | None = None
        self._resumed: asyncio.Event | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def paused(self) -> bool:
        """Whether the proxy currently refuses or holds connections."""
        return self._pause_mode is not None

    def start(self) -> "TcpProxy":
        """Start listening; return once the socket accepts connections."""
        self._thread.start()
        self._call(self._serve())
        return self

    def pause(self, mode: PauseMode = "refuse") -> None:
        """Cut every open connection; refuse or hold new ones until ``resume``."""
        self._call(self._pause(mode))

    def resume(self) -> None:
        """Forward again; held connections go through now."""
        self._call(self._resume())

    def stop(self) -> None:
        """Close everything and end the proxy's thread."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT_S)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(CONTROL_TIMEOUT_S)

    async def _serve(self) -> None:
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _pause(self, mode: PauseMode) -> None:
        assert self._resumed is not None
        self._pause_mode = mode
        self._resumed.clear()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _resume(self) -> None:
        assert self._resumed is not None
        self._pause_mode = None
        self._resumed.set()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        if self._resumed is not None:
            self._resumed.set()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        if self._pause_mode == "refuse":
            writer.transport.abort()
            return
        assert self._resumed is not None
        await self._resumed.wait()
        try:
            upstream_reader, upstream_writer = await self.target.connect()
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, upstream_writer)
        self._open.update(pair)
        try:
            await asyncio.gather(
                _pipe(reader, upstream_writer), _pipe(upstream_reader, writer)
            )
        finally:
            for end in pair:
                self._open.discard(end)
                end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF or a cut; then cut the other end too."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


@contextlib.contextmanager
def running_proxy(target: TcpTarget) -> Iterator[TcpProxy]:
    """A started ``TcpProxy``, stopped after."""
    proxy = TcpProxy(target).start()
    try:
        yield proxy
    finally:
        proxy.stop()
