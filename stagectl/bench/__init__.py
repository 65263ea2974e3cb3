"""The bench phase: bounded load on the running stack, judged against the PERF_* targets
(docs/contract.md §8).

Entry points: `bench_project()` (a BenchRun, for `stagectl bench`) and `bench_phase()` (the
report's BenchPhase, for `stagectl run`). The parts: `load` (the HTTP load client, percentiles,
the ceiling server), `stack` (the stack's targets and the run that measures them).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from stagectl.errors import ConfigError

if TYPE_CHECKING:
    from stagectl.bench.stack import BenchRun
    from stagectl.config.loader import Project
    from stagectl.remote import RemoteTarget
    from stagectl.report.model import BenchPhase


def bench_project(project: Project, *, requests: int = 200, concurrency: int | None = None, time_limit_s: float = 30.0,
                  direct_count: int = 200, remote: RemoteTarget | None = None) -> BenchRun:
    """Measure the running stack of `project`, or the stack at `remote` (a stack stagectl did not
    start: its dashboard only, judged against this project's PERF_* targets). `concurrency` None
    means PERF_CONCURRENCY from the project env."""
    from stagectl.bench.stack import run_bench

    env = project.env
    if concurrency is None:
        try:
            concurrency = int(env["PERF_CONCURRENCY"])
        except (KeyError, ValueError):
            raise ConfigError("PERF_CONCURRENCY must be set (or pass --concurrency)") from None
    services = project.stack.services
    ports = {name: services[name].port for name in ("dashboard", "postgres", "redis", "s3")}
    key = remote.api_key if remote else env.get("DASHBOARD_API_KEY", "")
    return run_bench(env, ports, key, requests=requests, concurrency=concurrency, time_limit_s=time_limit_s,
                     direct_count=direct_count, url=remote.url if remote else None)


def bench_phase(project: Project, time_limit_s: float) -> BenchPhase:
    """The bench against the running stack, as the report's bench phase."""
    started = dt.datetime.now(dt.timezone.utc)
    run = bench_project(project, time_limit_s=time_limit_s)
    return phase_of(run, command=f"stagectl bench --time-limit {time_limit_s:g}", started_at=started)


def phase_of(run: BenchRun, *, command: str, started_at: dt.datetime) -> BenchPhase:
    """The report's bench phase of one bench run (`command` reruns it)."""
    from stagectl.report.model import BenchEndpoint, BenchMeasurement, BenchPhase
    from stagectl.results import failure_summary

    checks = {c.id: c for c in run.check_results()}
    endpoints, ceiling = [], None
    for m in run.targets:
        numbers = dict(name=m.name, n=m.count, concurrency=run.settings["concurrency"], p50_ms=m.p50_ms or 0.0,
                       p95_ms=m.p95_ms or 0.0, p99_ms=m.p99_ms or 0.0, throughput_rps=m.throughput_rps or 0.0,
                       errors=m.errors)
        if m.kind == "ceiling":
            ceiling = BenchMeasurement(**numbers)
        else:
            endpoints.append(BenchEndpoint(**numbers, target_ms=m.limit_ms or 0.0, check=checks[f"bench.{m.name}"]))
    return BenchPhase(status="passed" if run.ok else "failed", reason=failure_summary(list(checks.values())),
                      command=command, started_at=started_at,
                      endpoints=endpoints, ceiling=ceiling, checks=[checks["bench.concurrency"], *run.not_applicable])
