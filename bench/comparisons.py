"""Turn samples into percentiles and baseline/ours comparisons."""

from collections.abc import Sequence

from bench.figures import Comparison, Percentiles, RedisFigures, percentiles
from bench.loadgen_api import RunSample

TOP_COMMANDS = 30


def field_values(samples: Sequence[RunSample], name: str) -> list[float]:
    """One timing of every successful run that has it."""
    values: list[float] = []
    for sample in samples:
        value = getattr(sample, name)
        if sample.ok and value is not None:
            values.append(float(value))
    return values


def compare(baseline: Percentiles | None, ours: Percentiles | None) -> Comparison:
    """Ratio ours/baseline and overhead ours - baseline, at p50 and p99."""
    comparison = Comparison(baseline=baseline, ours=ours)
    if baseline is None or ours is None:
        return comparison
    comparison.ratio_p50 = round(ours.p50 / baseline.p50, 3) if baseline.p50 else None
    comparison.ratio_p99 = round(ours.p99 / baseline.p99, 3) if baseline.p99 else None
    comparison.overhead_ms_p50 = round(ours.p50 - baseline.p50, 3)
    comparison.overhead_ms_p99 = round(ours.p99 - baseline.p99, 3)
    return comparison


def compare_field(
    baseline: Sequence[RunSample], ours: Sequence[RunSample], name: str
) -> Comparison:
    """``compare`` for one timing of the two systems' runs."""
    return compare(
        percentiles(field_values(baseline, name)),
        percentiles(field_values(ours, name)),
    )


def redis_figures(
    phase: str, tokens: int, commands: dict[str, int], *, coalescible: bool = True
) -> RedisFigures:
    """Commands per model token over a phase, with the busiest commands."""
    total = sum(commands.values())
    top = dict(sorted(commands.items(), key=lambda kv: kv[1], reverse=True))
    return RedisFigures(
        phase=phase,
        tokens=tokens,
        commands=total,
        per_token=round(total / tokens, 4) if tokens else 0.0,
        top_commands=dict(list(top.items())[:TOP_COMMANDS]),
        coalescible=coalescible,
    )
