"""Latency: sequential runs of a 200-token answer, baseline and ours taking turns."""

from bench.comparisons import compare_field, field_values, redis_figures
from bench.figures import LatencyFigures, PickupFigures, RedisFigures, percentiles
from bench.limits import limit_of
from bench.loadgen_api import AnswerShape, LatencyCommand, RunSample
from bench.session import Session
from testkit.processes import ManagedProcess
from testkit.services import log_events

RUN_STARTED = "run started"


def logged_pickups(workers: list[ManagedProcess]) -> list[float]:
    """Every ``pickup_ms`` the workers logged so far, in log order per worker."""
    found: list[float] = []
    for worker in workers:
        for record in log_events(worker):
            value = record.get("pickup_ms")
            if record.get("event") == RUN_STARTED and isinstance(value, int | float):
                found.append(float(value))
    return found


def _mean_events(samples: list[RunSample]) -> float:
    events = field_values(samples, "events")
    return round(sum(events) / len(events), 1) if events else 0.0


def run_latency(
    session: Session,
) -> tuple[LatencyFigures, PickupFigures, RedisFigures]:
    """Latency figures, the logged pickup times, Redis commands per token."""
    config = session.config
    shape = AnswerShape(deltas=config.latency_deltas, pace_ms=config.latency_pace_ms)
    bare = session.generator.latency(
        LatencyCommand(
            targets=[session.model], shape=shape, count=config.bare_model_runs
        )
    ).samples["model"]
    seen = len(logged_pickups(session.stack.workers))
    command = LatencyCommand(
        targets=[session.baseline, session.ours],
        shape=shape,
        count=config.latency_runs,
        warmup=config.latency_warmup,
    )
    result, measured = session.measure(lambda: session.generator.latency(command))
    baseline, ours = result.samples["baseline"], result.samples["ours"]
    pickups = logged_pickups(session.stack.workers)[seen + config.latency_warmup :]
    figures = LatencyFigures(
        deltas=shape.deltas,
        pace_ms=shape.pace_ms,
        runs=config.latency_runs,
        first_event=compare_field(baseline, ours, "first_event_ms"),
        first_delta=compare_field(baseline, ours, "first_delta_ms"),
        last_event=compare_field(baseline, ours, "last_event_ms"),
        bare_model_first_delta=percentiles(field_values(bare, "first_delta_ms")),
        bare_model_last_event=percentiles(field_values(bare, "last_event_ms")),
        ours_events_per_run=_mean_events(ours),
        baseline_events_per_run=_mean_events(baseline),
        failures={
            name: sum(1 for s in samples if not s.ok)
            for name, samples in result.samples.items()
        },
        limit=limit_of(measured.cpu, "sequential round trips, one run at a time"),
    )
    ours_runs = config.latency_runs + config.latency_warmup
    redis = redis_figures(
        f"latency ({shape.deltas} tokens, {shape.pace_ms:g} ms apart)",
        ours_runs * shape.deltas,
        measured.redis_commands,
    )
    return figures, PickupFigures(probe=None, logged=percentiles(pickups)), redis
