"""Job pickup measured by the probe worker (see ``pickup_probe``)."""

import asyncio
import os
import sys

from bench.figures import Percentiles, percentiles
from bench.pickup_probe import READY_LINE, measure_pickup
from bench.session import Session
from bench.stack import REPO_ROOT
from testkit.processes import OFFLINE_ENV, ManagedProcess

PROBE_QUEUE = "bench-pickup-probe"
READY_TIMEOUT_S = 60.0


def run_pickup_probe(session: Session) -> Percentiles | None:
    """Start the probe worker, time ``pickup_jobs`` enqueues, stop it.

    The first ``latency_warmup`` jobs are left out, as in the latency phase:
    they pay one-time costs (connections, the claim script's first load).
    """
    redis_url = session.stack.redis_url
    probe = ManagedProcess(
        "pickup-probe",
        [
            sys.executable,
            "-m",
            "bench.pickup_probe",
            "--redis",
            redis_url,
            "--queue",
            PROBE_QUEUE,
        ],
        env={**os.environ, **OFFLINE_ENV},
        log_path=session.stack.log_dir / "pickup-probe.log",
        cwd=REPO_ROOT,
    )
    try:
        probe.wait_log_contains(READY_LINE, timeout=READY_TIMEOUT_S)
        warmup = session.config.latency_warmup
        found = asyncio.run(
            measure_pickup(redis_url, PROBE_QUEUE, warmup + session.config.pickup_jobs)
        )
    finally:
        probe.stop()
    return percentiles(found[warmup:])
