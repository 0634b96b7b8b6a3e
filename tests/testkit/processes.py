"""Child processes for tests: start with a log file, wait until ready, always stop."""

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

# Both libraries reach for the network at import or at run time unless told not to.
OFFLINE_ENV: Mapping[str, str] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
}

LOG_TAIL_CHARS = 6000

_running: set["ManagedProcess"] = set()


class ProcessNotReadyError(RuntimeError):
    """A child process exited or timed out before it became ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedProcess:
    """One child process whose stdout and stderr go to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.env: Mapping[str, str] = dict(env)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            # Own session: a Ctrl-C meant for pytest reaches us first, and stop()
            # can signal the whole group (children of children included).
            self.popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.add(self)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the child has not exited yet."""
        return self.popen.poll() is None

    def log_text(self) -> str:
        """Everything the child wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self) -> str:
        """The end of the child's output, for failure messages."""
        return self.log_text()[-LOG_TAIL_CHARS:]

    def wait_until(
        self, ready: Callable[[], bool], *, timeout: float, what: str
    ) -> None:
        """Poll ``ready`` until it is true; fail with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not self.alive():
                self._fail(f"exited with code {self.popen.returncode} before {what}")
            time.sleep(0.05)
        self._fail(f"not {what} after {timeout:.0f} s")

    def wait_http_ok(self, url: str, *, timeout: float = 60.0) -> None:
        """Wait until GET url answers 2xx."""
        self.wait_until(lambda: _http_ok(url), timeout=timeout, what=f"ready at {url}")

    def wait_log_contains(self, needle: str, *, timeout: float = 60.0) -> None:
        """Wait until the child's output contains ``needle``."""
        self.wait_until(
            lambda: needle in self.log_text(),
            timeout=timeout,
            what=f"logged {needle!r}",
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the child's group, then SIGKILL it if it lingers."""
        _running.discard(self)
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout)
        else:
            # The leader is gone; make sure nothing it spawned outlives it.
            self._signal_group(signal.SIGKILL)
        return self.popen.returncode

    def kill(self, timeout: float = 10.0) -> int:
        """SIGKILL the child's group at once (a crash, not a shutdown); reap it."""
        _running.discard(self)
        self._signal_group(signal.SIGKILL)
        return self.popen.wait(timeout)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def _fail(self, problem: str) -> None:
        self.stop()
        raise ProcessNotReadyError(
            f"{self.name} (pid {self.pid}) {problem}; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).is_success
    except httpx.HTTPError:
        return False


@atexit.register
def _stop_leftovers() -> None:
    """Last line of defence: no child outlives the test session."""
    for process in list(_running):
        process.stop(timeout=5.0)
