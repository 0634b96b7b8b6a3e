"""Counts and durations of a full and a quick run."""

from pydantic import BaseModel


class BenchConfig(BaseModel):
    """How much of each figure to measure."""

    mode: str
    latency_runs: int
    latency_warmup: int
    latency_deltas: int = 200
    latency_pace_ms: float = 1.0
    bare_model_runs: int
    pickup_jobs: int
    single_stream_s: float
    aggregate_streams: int
    aggregate_s: float
    scaling_streams: int
    scaling_deltas: int = 20
    scaling_s: float
    ladder_pace_ms: float = 50.0
    ladder_bound_ms: float = 100.0
    ladder_s: float
    ladder_baseline: list[int]
    ladder_ours: list[int]
    hold_streams: int
    hold_pace_ms: float = 1000.0
    hold_ramp_s: float
    hold_s: float


FULL = BenchConfig(
    mode="full",
    latency_runs=200,
    latency_warmup=5,
    bare_model_runs=50,
    pickup_jobs=200,
    single_stream_s=4.0,
    aggregate_streams=16,
    aggregate_s=8.0,
    scaling_streams=16,
    scaling_s=8.0,
    ladder_s=6.0,
    ladder_baseline=[25, 50, 75, 100, 150, 200, 300],
    ladder_ours=[50, 100, 150, 200, 300, 400, 600],
    hold_streams=1000,
    hold_ramp_s=40.0,
    hold_s=10.0,
)

QUICK = BenchConfig(
    mode="quick",
    latency_runs=8,
    latency_warmup=2,
    bare_model_runs=5,
    pickup_jobs=30,
    single_stream_s=1.0,
    aggregate_streams=8,
    aggregate_s=1.5,
    scaling_streams=8,
    scaling_s=1.5,
    ladder_s=2.0,
    ladder_baseline=[25],
    ladder_ours=[50],
    hold_streams=100,
    hold_ramp_s=1.5,
    hold_s=2.0,
)
