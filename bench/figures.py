"""The figures a run produces: the JSON document under ``bench/results/``."""

from pydantic import BaseModel, Field


class Percentiles(BaseModel):
    """p50/p95/p99 (nearest rank) of ``n`` values."""

    n: int
    p50: float
    p95: float
    p99: float


def percentiles(values: list[float]) -> Percentiles | None:
    """The percentiles of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        index = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
        return ordered[index]

    return Percentiles(n=len(ordered), p50=rank(0.5), p95=rank(0.95), p99=rank(0.99))


class CpuShare(BaseModel):
    """One process's CPU over a phase."""

    process: str
    cpu_s: float
    percent_of_core: float


class Limit(BaseModel):
    """What bounded a phase: the busiest processes and the machine's load."""

    summary: str
    machine_percent: float
    """Whole machine, % of one core (200 = both cores busy, others included)."""
    busiest: list[CpuShare]


class Comparison(BaseModel):
    """One latency figure for baseline and ours (ms)."""

    baseline: Percentiles | None
    ours: Percentiles | None
    ratio_p50: float | None = None
    ratio_p99: float | None = None
    overhead_ms_p50: float | None = None
    overhead_ms_p99: float | None = None


class LatencyFigures(BaseModel):
    """Sequential runs of one answer shape, both systems taking turns."""

    deltas: int
    pace_ms: float
    runs: int
    first_event: Comparison
    first_delta: Comparison
    last_event: Comparison
    bare_model_first_delta: Percentiles | None
    bare_model_last_event: Percentiles | None
    ours_events_per_run: float
    baseline_events_per_run: float
    failures: dict[str, int]
    limit: Limit


class PickupFigures(BaseModel):
    """Enqueue to job start (ms)."""

    probe: Percentiles | None
    """Our WakeableWorker on an idle queue, enqueued as the gateway does."""
    logged: Percentiles | None
    """The workers' ``run started`` ``pickup_ms`` during the latency runs:
    subscribe + enqueue + wake-up + claim + loading the run from history."""


class LoadFigures(BaseModel):
    """Concurrent streams on one target for a while."""

    target: str
    streams: int
    deltas: int
    pace_ms: float
    seconds: float
    runs: int
    errors: int
    runs_per_s: float
    events_per_s: float
    tokens_per_s: float
    server_cpu_ms_per_1k_events: float | None
    """CPU of the serving process (gateway / baseline) per 1,000 client events."""
    cpu_ms_per_run: dict[str, float]
    token_lag_ms: Percentiles | None = None
    limit: Limit
    first_errors: list[str] = Field(default_factory=list)


class RedisFigures(BaseModel):
    """Redis commands per model token over one phase of ours."""

    phase: str
    tokens: int
    commands: int
    per_token: float
    top_commands: dict[str, int]
    coalescible: bool = True
    """Tokens arrive faster than the coalescing window, so they can be merged."""


class HoldFigures(BaseModel):
    """Many paced streams held open at once by one gateway process."""

    streams: int
    pace_ms: float
    completed: int
    errors: int
    peak_open: int
    token_lag_ms_steady: Percentiles | None
    token_lag_ms_all: Percentiles | None
    gateway_rss_before_mb: float
    gateway_rss_peak_mb: float
    gateway_kb_per_stream: float
    gateway_cpu_us_per_event_steady: float | None
    steady_events: int
    steady_events_per_s: float
    """Events the clients got per second in the steady window (the model sent
    ``streams * 1000 / pace_ms`` tokens per second)."""
    limit: Limit
    """CPU over the steady window."""
    first_errors: list[str] = Field(default_factory=list)


class CapacityLevel(BaseModel):
    """One rung of the paced-streams ladder."""

    streams: int
    token_lag_ms: Percentiles | None
    errors: int
    held: bool
    limit: Limit


class CapacityFigures(BaseModel):
    """Paced streams (one token per ``pace_ms``) held at p95 lag <= the bound."""

    pace_ms: float
    bound_ms: float
    baseline: list[CapacityLevel]
    ours: list[CapacityLevel]
    baseline_max_held: int
    ours_max_held: int


class MachineState(BaseModel):
    """Where and when the figures were taken."""

    cpu_count: int
    load_average_start: tuple[float, float, float]
    load_average_end: tuple[float, float, float]
    memory_total_mb: float
    python: str
    platform: str
    versions: dict[str, str]
    git_commit: str
    started_at: str
    seconds: float


class BenchReport(BaseModel):
    """Everything one ``make bench`` run measured."""

    mode: str
    machine: MachineState | None = None
    latency: LatencyFigures | None = None
    pickup: PickupFigures | None = None
    single_stream: list[LoadFigures] = Field(default_factory=list)
    aggregate: list[LoadFigures] = Field(default_factory=list)
    scaling: list[LoadFigures] = Field(default_factory=list)
    redis: list[RedisFigures] = Field(default_factory=list)
    capacity: CapacityFigures | None = None
    hold: HoldFigures | None = None
    notes: list[str] = Field(default_factory=list)
