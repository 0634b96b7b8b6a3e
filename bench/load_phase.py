"""Throughput: concurrent streams on one target, CPU and Redis per event."""

from dataclasses import dataclass

from bench.figures import LoadFigures, percentiles
from bench.limits import limit_of
from bench.loadgen_api import AnswerShape, LoadCommand, LoadResult, Target
from bench.session import Measured, Session

SERVER_PROCESS = {"baseline": "baseline", "ours": "gateway"}


@dataclass(frozen=True)
class LoadRun:
    """A load command's answer, its figures and what it cost."""

    result: LoadResult
    figures: LoadFigures
    measured: Measured


def run_load(
    session: Session,
    target: Target,
    shape: AnswerShape,
    *,
    streams: int,
    seconds: float,
    label: str | None = None,
    idle_reason: str = "round trips of too few streams",
) -> LoadRun:
    """``streams`` streams requesting again and again for ``seconds``."""
    command = LoadCommand(
        target=target, shape=shape, streams=streams, duration_s=seconds
    )
    result, measured = session.measure(lambda: session.generator.load(command))
    figures = load_figures(target, command, result, measured, idle_reason)
    figures.target = label or target.name
    return LoadRun(result, figures, measured)


def load_figures(
    target: Target,
    command: LoadCommand,
    result: LoadResult,
    measured: Measured,
    idle_reason: str,
) -> LoadFigures:
    """The figures of one load command."""
    elapsed = max(result.ended_wall - result.started_wall, 1e-9)
    server = measured.cpu.cpu_s.get(SERVER_PROCESS.get(target.name, ""), None)
    runs = max(result.runs, 1)
    lags = [lag for _, lag in result.lags]
    return LoadFigures(
        target=target.name,
        streams=command.streams,
        deltas=command.shape.deltas,
        pace_ms=command.shape.pace_ms,
        seconds=round(elapsed, 3),
        runs=result.runs,
        errors=result.errors,
        runs_per_s=round(result.runs / elapsed, 2),
        events_per_s=round(result.events / elapsed, 1),
        tokens_per_s=round(result.runs * command.shape.deltas / elapsed, 1),
        server_cpu_ms_per_1k_events=(
            round(server * 1e6 / result.events, 2)
            if server is not None and result.events
            else None
        ),
        cpu_ms_per_run={
            name: round(cpu_s * 1000 / runs, 2)
            for name, cpu_s in sorted(measured.cpu.cpu_s.items())
        },
        token_lag_ms=percentiles(lags),
        limit=limit_of(measured.cpu, idle_reason),
        first_errors=result.first_errors,
    )
