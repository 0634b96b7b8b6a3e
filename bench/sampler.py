"""CPU and memory of named processes, sampled in a background thread.

Each sample holds, per process, its CPU seconds so far (user + system) and
its RSS, plus the machine's busy CPU seconds; a window between two wall times
then gives CPU used and % of one core. The PostgreSQL server is one entry: all
processes named ``postgres`` (shared with anything else using that server).
"""

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]

SAMPLE_EVERY_S = 0.5
POSTGRES = "postgres"


@dataclass(frozen=True)
class Sample:
    """Per-process CPU seconds and RSS bytes at one wall time."""

    wall: float
    cpu_s: Mapping[str, float]
    rss: Mapping[str, int]
    machine_busy_s: float


def _cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + times.nice + times.irq + times.softirq)


def _postgres_cpu() -> float:
    """Live server processes plus what the postmaster reaped (ended backends)."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != POSTGRES:
            continue
        try:
            total += _cpu_of(process)
            if process.parent() is None or process.parent().name() != POSTGRES:
                times = process.cpu_times()
                total += float(times.children_user + times.children_system)
        except psutil.Error:
            continue
    return total


@dataclass
class Sampler:
    """Samples ``pids`` (name -> pid) every ``SAMPLE_EVERY_S`` until stopped."""

    pids: dict[str, int]
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def take(self) -> Sample:
        """One sample now (also kept)."""
        cpu: dict[str, float] = {}
        rss: dict[str, int] = {}
        for name, pid in list(self.pids.items()):
            try:
                process = psutil.Process(pid)
                cpu[name] = _cpu_of(process)
                rss[name] = int(process.memory_info().rss)
            except psutil.Error:
                continue
        cpu[POSTGRES] = _postgres_cpu()
        sample = Sample(time.time(), cpu, rss, _machine_busy_s())
        self.samples.append(sample)
        return sample

    def start(self) -> None:
        """Sample in the background."""
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.take()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def at(self, wall: float) -> Sample:
        """The sample closest to ``wall``."""
        return min(self.samples, key=lambda sample: abs(sample.wall - wall))

    def peak_rss(self, name: str, start: float, end: float) -> int:
        """Highest RSS of ``name`` seen between two wall times."""
        seen = [s.rss.get(name, 0) for s in self.samples if start <= s.wall <= end]
        return max(seen, default=0)


@dataclass(frozen=True)
class CpuWindow:
    """CPU used per process between two samples."""

    seconds: float
    cpu_s: Mapping[str, float]
    machine_busy_s: float

    def percent(self, name: str) -> float:
        """% of one core ``name`` used over the window."""
        return 100 * self.cpu_s.get(name, 0.0) / self.seconds if self.seconds else 0

    def machine_percent(self) -> float:
        """% of one core the whole machine used (200 = both cores busy)."""
        return 100 * self.machine_busy_s / self.seconds if self.seconds else 0.0


def window(first: Sample, last: Sample) -> CpuWindow:
    """CPU per process from ``first`` to ``last``."""
    used = {
        name: max(0.0, last.cpu_s[name] - first.cpu_s[name])
        for name in last.cpu_s
        if name in first.cpu_s
    }
    return CpuWindow(
        seconds=last.wall - first.wall,
        cpu_s=used,
        machine_busy_s=last.machine_busy_s - first.machine_busy_s,
    )
