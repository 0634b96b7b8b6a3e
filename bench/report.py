"""The Markdown table of a run, with targets and what limited each figure."""

from bench.figures import (
    BenchReport,
    CapacityFigures,
    Comparison,
    HoldFigures,
    LatencyFigures,
    LoadFigures,
    MachineState,
    Percentiles,
    PickupFigures,
)

HEADER = (
    "| Figure | Baseline (ChatKitServer) | Ours | Ours / baseline | Overhead "
    "| Target | Limited by |\n|---|---|---|---|---|---|---|"
)
NONE = "—"
STACK_PROCESSES = ("gateway", "history", "postgres", "redis")
"""Our serving processes besides the workers."""


def pct(value: Percentiles | None, digits: int = 1) -> str:
    """``p50 / p95 / p99``."""
    if value is None:
        return NONE
    return f"{value.p50:.{digits}f} / {value.p95:.{digits}f} / {value.p99:.{digits}f}"


def _ratio(comparison: Comparison) -> str:
    if comparison.ratio_p50 is None or comparison.ratio_p99 is None:
        return NONE
    return f"{comparison.ratio_p50:.2f}x p50, {comparison.ratio_p99:.2f}x p99"


def _overhead(comparison: Comparison) -> str:
    if comparison.overhead_ms_p50 is None or comparison.overhead_ms_p99 is None:
        return NONE
    return (
        f"{comparison.overhead_ms_p50:+.1f} ms p50, "
        f"{comparison.overhead_ms_p99:+.1f} ms p99"
    )


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "n/a"}[met]


def _compare_row(name: str, comparison: Comparison, target: str, limit: str) -> str:
    return _row(
        name,
        pct(comparison.baseline),
        pct(comparison.ours),
        _ratio(comparison),
        _overhead(comparison),
        target,
        limit,
    )


def latency_rows(latency: LatencyFigures) -> list[str]:
    """First event, first text delta and last event."""
    limit = latency.limit.summary
    first = latency.first_event
    first_met = (
        None
        if first.baseline is None or first.ours is None
        else first.ours.p99 <= first.baseline.p99 + 5
    )
    delta = latency.first_delta
    bare = latency.bare_model_first_delta
    delta_met = (
        None
        if delta.baseline is None or delta.ours is None
        else delta.ours.p50 < delta.baseline.p50
    )
    stretch = (
        None if bare is None or delta.ours is None else delta.ours.p50 - bare.p50 <= 10
    )
    bare_text = f"bare model {bare.p50:.1f} ms p50" if bare else "bare model n/a"
    return [
        _compare_row(
            "Time to first event, ms (p50 / p95 / p99)",
            first,
            f"≤ baseline + 5 ms at p99: {_verdict(first_met)}",
            limit,
        ),
        _compare_row(
            "Time to first text delta, ms",
            delta,
            f"< baseline p50: {_verdict(delta_met)}; stretch ≤ bare model "
            f"+ 10 ms p50 ({bare_text}): {_verdict(stretch)}",
            limit,
        ),
        _compare_row(
            f"Time to last event, {latency.deltas}-token answer, ms",
            latency.last_event,
            f"events per answer: baseline {latency.baseline_events_per_run:.0f}, "
            f"ours {latency.ours_events_per_run:.0f}",
            limit,
        ),
    ]


def pickup_row(pickup: PickupFigures, limit: str) -> str:
    """Enqueue to job start."""
    probe = pickup.probe
    met = None if probe is None else probe.p99 <= 3
    logged = pickup.logged
    logged_text = (
        f"logged (incl. subscribe + history load): {logged.p50:.2f} / {logged.p99:.2f}"
        if logged
        else "logged: n/a"
    )
    probe_text = f"probe: {probe.p50:.2f} / {probe.p99:.2f}" if probe else "probe: n/a"
    return _row(
        "Job pickup (enqueue → job start), ms p50 / p99",
        "n/a (in process)",
        f"{probe_text}; {logged_text}",
        NONE,
        NONE,
        f"≤ 3 ms p99 (probe): {_verdict(met)}",
        limit,
    )


def _by_target(figures: list[LoadFigures]) -> dict[str, LoadFigures]:
    return {figure.target: figure for figure in figures}


def _rate_cells(baseline: LoadFigures, ours: LoadFigures, unit: str) -> list[str]:
    ratio = ours.events_per_s / baseline.events_per_s if baseline.events_per_s else 0
    token_ratio = (
        ours.tokens_per_s / baseline.tokens_per_s if baseline.tokens_per_s else 0
    )
    return [
        f"{baseline.events_per_s:,.0f} {unit} ({baseline.tokens_per_s:,.0f} tokens/s)",
        f"{ours.events_per_s:,.0f} {unit} ({ours.tokens_per_s:,.0f} tokens/s)",
        f"{ratio:.2f}x events, {token_ratio:.2f}x tokens",
    ]


def _limits(baseline: LoadFigures, ours: LoadFigures) -> str:
    return f"baseline: {baseline.limit.summary}; ours: {ours.limit.summary}"


def throughput_rows(single: list[LoadFigures], many: list[LoadFigures]) -> list[str]:
    """Single-stream and aggregate events/s, server CPU per 1k events."""
    rows: list[str] = []
    one, agg = _by_target(single), _by_target(many)
    if "baseline" in one and "ours" in one:
        b, o = one["baseline"], one["ours"]
        cells = _rate_cells(b, o, "events/s")
        rows.append(_row("Single stream, no pacing", *cells, NONE, NONE, _limits(b, o)))
    if "baseline" in agg and "ours" in agg:
        b, o = agg["baseline"], agg["ours"]
        cells = _rate_cells(b, o, "events/s")
        name = f"Aggregate, {o.streams} concurrent streams, no pacing"
        rows.append(_row(name, *cells, NONE, NONE, _limits(b, o)))
        rows.append(_cpu_row(b, o))
        rows.append(_stack_cpu_row(b, o))
    return rows


def _stack_cpu_row(baseline: LoadFigures, ours: LoadFigures) -> str:
    base = baseline.cpu_ms_per_run.get("baseline", 0.0)
    parts = {name: ours.cpu_ms_per_run.get(name, 0.0) for name in STACK_PROCESSES}
    workers = sum(v for k, v in ours.cpu_ms_per_run.items() if k.startswith("worker"))
    total = sum(parts.values()) + workers
    detail = ", ".join(f"{name} {ms:.1f}" for name, ms in parts.items())
    return _row(
        f"CPU per {ours.deltas}-token run, every serving process (ms)",
        f"{base:.1f}",
        f"{total:.1f} (workers {workers:.1f}, {detail})",
        f"{total / base:.2f}x" if base else NONE,
        f"{total - base:+.1f} ms",
        NONE,
        "from the aggregate phase; postgres is shared with other users",
    )


def _cpu_row(baseline: LoadFigures, ours: LoadFigures) -> str:
    b = baseline.server_cpu_ms_per_1k_events
    o = ours.server_cpu_ms_per_1k_events
    ratio = f"{o / b:.2f}x" if b and o else NONE
    return _row(
        "Server CPU per 1k events, all-in (ms; baseline process / gateway)",
        f"{b:.1f}" if b is not None else NONE,
        f"{o:.1f}" if o is not None else NONE,
        ratio,
        NONE,
        "relay ≤ 40 ms per 1k events: see the hold row",
        _limits(baseline, ours),
    )


def capacity_row(capacity: CapacityFigures) -> str:
    """Paced streams held by each system."""
    b, o = capacity.baseline_max_held, capacity.ours_max_held
    tried_b = max((rung.streams for rung in capacity.baseline), default=0)
    tried_o = max((rung.streams for rung in capacity.ours), default=0)
    met = None if b == 0 else o >= 4 * b
    last_b = capacity.baseline[-1].limit.summary if capacity.baseline else NONE
    last_o = capacity.ours[-1].limit.summary if capacity.ours else NONE
    return _row(
        f"Paced streams held (1 token / {capacity.pace_ms:g} ms, "
        f"p95 token lag ≤ {capacity.bound_ms:g} ms)",
        f"{b} (tried up to {tried_b})",
        f"{o} (tried up to {tried_o})",
        f"{o / b:.1f}x" if b else NONE,
        NONE,
        f"≥ 4x baseline: {_verdict(met)}",
        f"baseline at {tried_b}: {last_b}; ours at {tried_o}: {last_o}",
    )


def hold_row(hold: HoldFigures) -> str:
    """One gateway holding many slow streams."""
    lag = hold.token_lag_ms_steady
    held = (
        hold.errors == 0
        and hold.peak_open >= hold.streams
        and lag is not None
        and lag.p95 <= 100
    )
    cpu = hold.gateway_cpu_us_per_event_steady
    cpu_text = f"{cpu:.0f} µs gateway CPU per event" if cpu is not None else NONE
    return _row(
        f"{hold.streams} paced streams on one gateway (1 token / {hold.pace_ms:g} ms)",
        "not run",
        f"{hold.peak_open} open, {hold.errors} errors; steady token lag "
        f"{pct(lag)} ms; {hold.gateway_kb_per_stream:.0f} KB RSS per stream "
        f"({hold.gateway_rss_before_mb:.0f} → {hold.gateway_rss_peak_mb:.0f} MB); "
        f"{cpu_text}; {hold.steady_events_per_s:.0f} events/s delivered of "
        f"{hold.streams * 1000 / hold.pace_ms:.0f}/s sent",
        NONE,
        NONE,
        f"1,000 streams: {_verdict(held if hold.streams >= 1000 else None)}; "
        "relay ≤ 40 µs per event: "
        f"{_verdict(None if cpu is None else cpu <= 40)}",
        f"steady window: {hold.limit.summary}",
    )


def redis_row(report: BenchReport) -> str:
    """Redis commands per streamed token, per phase."""
    parts = [
        f"{r.phase}: {r.per_token:.3f}" + ("" if r.coalescible else " (no coalescing)")
        for r in report.redis
    ]
    streaming = [r.per_token for r in report.redis if r.coalescible]
    worst = max(streaming, default=None)
    return _row(
        "Redis commands per model token",
        "none (no Redis)",
        "; ".join(parts) or NONE,
        NONE,
        NONE,
        f"≤ 0.2: {_verdict(None if worst is None else worst <= 0.2)} "
        "(worst phase whose tokens come faster than the coalescing window)",
        "coalescing window vs token pace",
    )


def scaling_row(scaling: list[LoadFigures]) -> str:
    """Runs/s with 1 and 2 worker processes."""
    by = _by_target(scaling)
    base = by.get("baseline")
    one, two = by.get("ours, 1 worker"), by.get("ours, 2 workers")
    if one is None or two is None:
        return _row("Runs/s", NONE, NONE, NONE, NONE, NONE, NONE)
    gain = two.runs_per_s / one.runs_per_s if one.runs_per_s else 0
    return _row(
        f"Runs/s, {two.streams} streams, {two.deltas}-token answers",
        f"{base.runs_per_s:.1f}" if base else NONE,
        f"1 worker {one.runs_per_s:.1f}; 2 workers {two.runs_per_s:.1f} ({gain:.2f}x)",
        f"{two.runs_per_s / base.runs_per_s:.2f}x (2 workers)" if base else NONE,
        NONE,
        "scales with worker processes",
        f"1 worker: {one.limit.summary}; 2 workers: {two.limit.summary}"
        + (f"; baseline: {base.limit.summary}" if base else ""),
    )


def cpu_table(report: BenchReport) -> list[str]:
    """CPU ms per run by process, for the aggregate and scaling phases."""
    runs = [*report.aggregate, *report.scaling]
    names = sorted({name for run in runs for name in run.cpu_ms_per_run})
    lines = [
        "| Phase | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for run in runs:
        cells = [f"{run.cpu_ms_per_run.get(n, 0):.1f}" for n in names]
        label = f"{run.target}, {run.streams} streams x {run.deltas} tokens"
        lines.append(_row(label, *cells))
    return lines


def machine_lines(machine: MachineState | None) -> list[str]:
    """The machine state in a few lines."""
    if machine is None:
        return []
    versions = ", ".join(f"{k} {v}" for k, v in machine.versions.items())
    start, end = machine.load_average_start, machine.load_average_end
    return [
        f"- Machine: {machine.cpu_count} CPUs, {machine.memory_total_mb:.0f} MB, "
        f"{machine.platform}; load average {start[0]} / {start[1]} / {start[2]} "
        f"at start, {end[0]} / {end[1]} / {end[2]} at end",
        f"- Versions: {versions}",
        f"- Commit {machine.git_commit}; started {machine.started_at}, "
        f"took {machine.seconds:.0f} s",
    ]


def render(report: BenchReport) -> str:
    """The whole Markdown document."""
    lines = [f"# ChatKit backend benchmark ({report.mode})", ""]
    lines += machine_lines(report.machine)
    lines += ["", HEADER]
    if report.latency is not None:
        lines += latency_rows(report.latency)
        if report.pickup is not None:
            lines.append(pickup_row(report.pickup, "idle worker, one job at a time"))
    lines += throughput_rows(report.single_stream, report.aggregate)
    if report.capacity is not None:
        lines.append(capacity_row(report.capacity))
    if report.hold is not None:
        lines.append(hold_row(report.hold))
    lines.append(redis_row(report))
    lines.append(scaling_row(report.scaling))
    lines += ["", "CPU per run by process (ms):", "", *cpu_table(report)]
    if report.notes:
        lines += ["", *[f"- {note}" for note in report.notes]]
    return "\n".join(lines) + "\n"
