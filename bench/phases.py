"""The order of a run: each phase adds its figures to the report."""

import time
from collections.abc import Callable

from bench.capacity_phase import run_hold, run_ladder
from bench.comparisons import redis_figures
from bench.figures import BenchReport
from bench.latency_phase import run_latency
from bench.load_phase import run_load
from bench.loadgen_api import AnswerShape
from bench.pickup_phase import run_pickup_probe
from bench.session import Session


class Progress:
    """One line per phase, with the time since the run began."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def __call__(self, message: str) -> None:
        """Print ``message`` after the elapsed time."""
        print(f"[{time.monotonic() - self.began:6.1f}s] {message}", flush=True)


def _latency(session: Session, report: BenchReport, say: Progress) -> None:
    config = session.config
    say(f"latency: {config.latency_runs} runs each, baseline and ours taking turns")
    report.latency, pickup, redis = run_latency(session)
    report.redis.append(redis)
    say(f"pickup: {config.pickup_jobs} jobs through the probe worker")
    pickup.probe = run_pickup_probe(session)
    report.pickup = pickup


def _scaling(session: Session, report: BenchReport, say: Progress) -> None:
    config = session.config
    shape = AnswerShape(deltas=config.scaling_deltas)
    streams, seconds = config.scaling_streams, config.scaling_s
    say(f"scaling: runs/s with {streams} streams, baseline and 1 worker")
    for target, label in ((session.baseline, None), (session.ours, "ours, 1 worker")):
        run = run_load(
            session, target, shape, streams=streams, seconds=seconds, label=label
        )
        report.scaling.append(run.figures)
    session.stack.add_worker()
    session.track_processes()
    say("scaling: 2 workers")
    run = run_load(
        session,
        session.ours,
        shape,
        streams=streams,
        seconds=seconds,
        label="ours, 2 workers",
    )
    report.scaling.append(run.figures)


def _throughput(session: Session, report: BenchReport, say: Progress) -> None:
    config = session.config
    shape = AnswerShape(deltas=config.latency_deltas)
    say("throughput: one stream, then many, no pacing")
    for target in (session.baseline, session.ours):
        single = run_load(
            session, target, shape, streams=1, seconds=config.single_stream_s
        )
        report.single_stream.append(single.figures)
    for target in (session.baseline, session.ours):
        many = run_load(
            session,
            target,
            shape,
            streams=config.aggregate_streams,
            seconds=config.aggregate_s,
        )
        report.aggregate.append(many.figures)
    streams = config.aggregate_streams
    phase = f"aggregate ({streams} streams, {shape.deltas} tokens, no pacing)"
    report.redis.append(
        redis_figures(
            phase, many.result.runs * shape.deltas, many.measured.redis_commands
        )
    )


def _capacity(session: Session, report: BenchReport, say: Progress) -> None:
    config = session.config
    say(f"capacity: paced streams, 1 token per {config.ladder_pace_ms:g} ms")
    report.capacity = run_ladder(session)
    say(f"hold: {config.hold_streams} streams, 1 token per {config.hold_pace_ms:g} ms")
    report.hold, redis = run_hold(session)
    report.redis.append(redis)


PHASES: tuple[Callable[[Session, BenchReport, Progress], None], ...] = (
    _latency,
    _scaling,
    _throughput,
    _capacity,
)


def run_phases(session: Session) -> BenchReport:
    """Every phase in order; the caller adds the machine state."""
    report = BenchReport(mode=session.config.mode)
    say = Progress()
    for phase in PHASES:
        phase(session, report, say)
    say("done")
    report.notes = session.notes
    return report
