"""Capacity: paced streams held at a bounded token lag, and one gateway's 1,000."""

import math

from bench.comparisons import redis_figures
from bench.figures import (
    CapacityFigures,
    CapacityLevel,
    HoldFigures,
    Percentiles,
    RedisFigures,
    percentiles,
)
from bench.limits import limit_of
from bench.loadgen_api import AnswerShape, LoadCommand, LoadResult, Target
from bench.sampler import window
from bench.session import Session

STARTS_PER_S = 25.0
"""Ladder: a rung's streams start at this rate (at least over 1 s), so that the
figure is about holding streams, not about a burst of thread creations."""
SETTLE_S = 1.0
"""Lags count as steady this long after the last stream started."""
MB = 1024 * 1024


def steady_lags(result: LoadResult, until: float) -> list[float]:
    """Token lags received after the ramp settled and before ``until``."""
    start = result.all_started_wall + SETTLE_S
    return [lag for wall, lag in result.lags if start <= wall <= until]


def _rung(session: Session, target: Target, streams: int) -> CapacityLevel:
    config = session.config
    ramp_s = max(1.0, streams / STARTS_PER_S)
    pace_s = config.ladder_pace_ms / 1000
    deltas = math.ceil((ramp_s + config.ladder_s) / pace_s)
    shape = AnswerShape(deltas=deltas, pace_ms=config.ladder_pace_ms, stamps=True)
    command = LoadCommand(
        target=target,
        shape=shape,
        streams=streams,
        ramp_s=ramp_s,
        repeat=False,
        timeout_s=deltas * pace_s * 3 + 30,
    )
    result, measured = session.measure(lambda: session.generator.load(command))
    # Steady: every stream started, none finished yet (the first ends at
    # its start + deltas * pace).
    lag = percentiles(steady_lags(result, result.started_wall + deltas * pace_s))
    held = lag is not None and lag.p95 <= config.ladder_bound_ms and result.errors == 0
    return CapacityLevel(
        streams=streams,
        token_lag_ms=lag,
        errors=result.errors,
        held=held,
        limit=limit_of(measured.cpu, "pacing"),
    )


def _ladder(session: Session, target: Target, levels: list[int]) -> list[CapacityLevel]:
    rungs: list[CapacityLevel] = []
    for streams in levels:
        rung = _rung(session, target, streams)
        rungs.append(rung)
        if not rung.held:
            break
    return rungs


def _max_held(rungs: list[CapacityLevel]) -> int:
    return max((rung.streams for rung in rungs if rung.held), default=0)


def run_ladder(session: Session) -> CapacityFigures:
    """The paced-streams ladder for both systems, each stopping at its first miss."""
    config = session.config
    baseline = _ladder(session, session.baseline, config.ladder_baseline)
    ours = _ladder(session, session.ours, config.ladder_ours)
    return CapacityFigures(
        pace_ms=config.ladder_pace_ms,
        bound_ms=config.ladder_bound_ms,
        baseline=baseline,
        ours=ours,
        baseline_max_held=_max_held(baseline),
        ours_max_held=_max_held(ours),
    )


def run_hold(session: Session) -> tuple[HoldFigures, RedisFigures]:
    """``hold_streams`` slow paced streams open at once on one gateway."""
    config = session.config
    pace_s = config.hold_pace_ms / 1000
    deltas = math.ceil((config.hold_ramp_s + config.hold_s) / pace_s) + 1
    shape = AnswerShape(deltas=deltas, pace_ms=config.hold_pace_ms, stamps=True)
    command = LoadCommand(
        target=session.ours,
        shape=shape,
        streams=config.hold_streams,
        ramp_s=config.hold_ramp_s,
        repeat=False,
        timeout_s=deltas * pace_s + 60,
    )
    result, measured = session.measure(lambda: session.generator.load(command))
    sampler = session.sampler
    steady_from = result.all_started_wall + SETTLE_S
    steady_to = result.all_started_wall + config.hold_s
    steady = steady_lags(result, until=steady_to)
    first, last = sampler.at(steady_from), sampler.at(steady_to)
    steady_cpu = window(first, last)
    gateway_cpu = steady_cpu.cpu_s.get("gateway", 0.0)
    window_events = sum(1 for wall, _ in result.lags if first.wall <= wall <= last.wall)
    before = sampler.at(measured.started).rss.get("gateway", 0)
    peak = sampler.peak_rss("gateway", measured.started, measured.ended)
    figures = HoldFigures(
        streams=config.hold_streams,
        pace_ms=config.hold_pace_ms,
        completed=result.runs,
        errors=result.errors,
        peak_open=result.peak_open,
        token_lag_ms_steady=percentiles(steady),
        token_lag_ms_all=_all_lags(result),
        gateway_rss_before_mb=round(before / MB, 1),
        gateway_rss_peak_mb=round(peak / MB, 1),
        gateway_kb_per_stream=round(
            (peak - before) / 1024 / max(result.peak_open, 1), 1
        ),
        gateway_cpu_us_per_event_steady=(
            round(gateway_cpu * 1e6 / window_events, 1) if window_events else None
        ),
        steady_events=window_events,
        steady_events_per_s=round(window_events / max(steady_cpu.seconds, 1e-9), 1),
        limit=limit_of(steady_cpu, "pacing"),
        first_errors=result.first_errors,
    )
    redis = redis_figures(
        f"hold ({config.hold_streams} streams, 1 token per {config.hold_pace_ms:g} ms)",
        result.runs * deltas,
        measured.redis_commands,
        # One token per second: each is its own flush (PUBLISH + XADD) unless
        # the user waits seconds for it.
        coalescible=False,
    )
    return figures, redis


def _all_lags(result: LoadResult) -> Percentiles | None:
    return percentiles([lag for _, lag in result.lags])
