"""Say what bounded a phase, from its CPU window."""

from bench.figures import CpuShare, Limit
from bench.sampler import CpuWindow

SATURATED_PERCENT = 85.0
"""A single-threaded process this busy is the bottleneck."""
MACHINE_SATURATED_PERCENT = 170.0
"""Both cores (200%) this busy: the machine is the bottleneck."""
TOP = 5


def limit_of(window: CpuWindow, idle_reason: str) -> Limit:
    """The busiest processes and a one-line verdict.

    ``idle_reason`` names what bounds the phase when no CPU does (pacing,
    sequential round trips).
    """
    shares = sorted(
        (
            CpuShare(
                process=name,
                cpu_s=round(cpu_s, 3),
                percent_of_core=round(window.percent(name), 1),
            )
            for name, cpu_s in window.cpu_s.items()
        ),
        key=lambda share: share.cpu_s,
        reverse=True,
    )
    machine = window.machine_percent()
    named = sum(window.cpu_s.values())
    outside = max(0.0, window.machine_busy_s - named)
    outside_percent = 100 * outside / window.seconds if window.seconds else 0.0
    top = shares[0] if shares else None
    busiest = (
        f"{top.process} {top.percent_of_core:.0f}%" if top is not None else "nothing"
    )
    if top is not None and top.percent_of_core >= SATURATED_PERCENT:
        summary = f"CPU of {top.process} ({top.percent_of_core:.0f}% of a core)"
    elif machine >= MACHINE_SATURATED_PERCENT:
        summary = f"both cores busy ({machine:.0f}%; busiest {busiest})"
    else:
        summary = f"{idle_reason} (machine {machine:.0f}% of 200%; busiest {busiest})"
    if outside_percent >= 10:
        summary += f"; other processes used {outside_percent:.0f}%"
    return Limit(
        summary=summary, machine_percent=round(machine, 1), busiest=shares[:TOP]
    )
