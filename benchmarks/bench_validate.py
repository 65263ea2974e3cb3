"""Benchmark `stagectl validate` in-process: N runs, median and p95.

    python benchmarks/bench_validate.py [-n 30] [--root DIR]

Two numbers per run: `checks` (a fresh CheckContext + every check, tools included — the budget
is 300 ms) and `load+checks` (the project loaded again first, as the command does). Python start
and imports are excluded (measure `time stagectl validate` for those).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stagectl.config.loader import load_project  # noqa: E402
from stagectl.validate.context import CheckContext  # noqa: E402
from stagectl.validate.runner import load_builtin_checks, run_checks  # noqa: E402

BUDGET_MS = 300.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    registry = load_builtin_checks(ROOT)
    checks_ms, total_ms, cpu_ms, summary = [], [], [], ""
    for _ in range(args.n):
        start = time.perf_counter()
        project = load_project(args.root, allow_example=True)
        loaded, cpu = time.perf_counter(), time.process_time()
        run = run_checks(CheckContext(project))
        end = time.perf_counter()
        cpu_ms.append((time.process_time() - cpu) * 1000)
        checks_ms.append((end - loaded) * 1000)
        total_ms.append((end - start) * 1000)
        statuses = [r.status for r in run.results]
        summary = f"{len(registry)} checks, {len(run.results)} results, {statuses.count('fail')} failed, {statuses.count('error')} errors"
    print(f"root: {args.root}  runs: {args.n}  ({summary})")
    # The CPU time of this process (tools excluded) shows what the machine's load inflates.
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for label, values in (("checks", checks_ms), ("load+checks", total_ms), ("checks CPU", cpu_ms)):
        print(f"{label:>12}: median {statistics.median(values):6.1f} ms   p95 {percentile(values, 0.95):6.1f} ms   max {max(values):6.1f} ms")
    verdict = "within" if statistics.median(checks_ms) <= BUDGET_MS else "OVER"
    print(f"budget {BUDGET_MS:.0f} ms: median {verdict} budget")
    return 0 if verdict == "within" else 1


if __name__ == "__main__":
    sys.exit(main())
