"""The orchestrator's handle on a load generator process."""

import subprocess
import sys
from pathlib import Path

from pydantic import TypeAdapter

from bench.loadgen_api import (
    LatencyCommand,
    LatencyResult,
    LoadCommand,
    LoadResult,
    Result,
)

RESULT_ADAPTER: TypeAdapter[LatencyResult | LoadResult] = TypeAdapter(Result)


class LoadGenerator:
    """``python -m bench.loadgen`` as a child; one command at a time."""

    def __init__(self, cwd: Path, log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    @property
    def pid(self) -> int:
        """The generator's process id."""
        return self.process.pid

    def _ask(self, command: LatencyCommand | LoadCommand) -> LatencyResult | LoadResult:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command.model_dump_json() + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited; see its log")
        return RESULT_ADAPTER.validate_json(line)

    def latency(self, command: LatencyCommand) -> LatencyResult:
        """Run a latency command."""
        result = self._ask(command)
        assert isinstance(result, LatencyResult)
        return result

    def load(self, command: LoadCommand) -> LoadResult:
        """Run a load command."""
        result = self._ask(command)
        assert isinstance(result, LoadResult)
        return result

    def close(self) -> None:
        """End the generator (closing its stdin ends its loop)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
