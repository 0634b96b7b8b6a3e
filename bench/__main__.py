"""``python -m bench [--quick]``: run every phase, write Markdown and JSON results.

Results go to ``bench/results/<mode>.md`` and ``<mode>.json``; service logs to a
temporary folder, deleted afterwards unless ``--keep-logs``.
"""

import argparse
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.config import FULL, QUICK, BenchConfig
from bench.driver import LoadGenerator
from bench.figures import BenchReport
from bench.machine import load_average, machine_state, package_versions, server_versions
from bench.phases import run_phases
from bench.report import render
from bench.session import Session
from bench.stack import REPO_ROOT, bench_stack

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run(config: BenchConfig, log_dir: Path) -> BenchReport:
    """Start everything, run the phases, stop everything."""
    started = datetime.now(UTC)
    load_start = load_average()
    with bench_stack(log_dir) as stack:
        versions = {
            **package_versions(),
            **server_versions(stack.redis_url, stack.database_url),
        }
        generator = LoadGenerator(REPO_ROOT, log_dir / "loadgen.log")
        session = Session(config, stack, generator)
        session.sampler.start()
        try:
            report = run_phases(session)
        finally:
            session.sampler.stop()
            generator.close()
    report.machine = machine_state(started, load_start, versions)
    return report


def write(report: BenchReport, out_dir: Path) -> str:
    """Write ``<mode>.md`` and ``<mode>.json``; return the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = render(report)
    (out_dir / f"{report.mode}.md").write_text(markdown)
    (out_dir / f"{report.mode}.json").write_text(report.model_dump_json(indent=2))
    return markdown


def main() -> None:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (smoke)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    log_dir = Path(tempfile.mkdtemp(prefix="cks-bench-"))
    print(f"benchmark ({config.mode}); service logs in {log_dir}", flush=True)
    try:
        report = run(config, log_dir)
    except BaseException:
        print(f"benchmark failed; logs kept in {log_dir}", flush=True)
        raise
    print(write(report, args.out))
    if args.keep_logs:
        print(f"logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
