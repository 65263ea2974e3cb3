"""The chaos phase: break dependencies of the running stack and prove that the dashboard degrades
as docs/contract.md §4–§5 say, enforces it on its endpoints, and recovers.

Entry points: `run_chaos_on_stack()` (a ChaosRun, for `stagectl chaos`) and `chaos_phase()` (the
report's ChaosPhase, for `stagectl run`). The parts: `scenarios` (what to break and the expected
level, pure), `faults` (how to break and restore a service through its backend), `probe` (the
HTTP side: /health timeline, feature probes), `runner` (the loop and its timings). Imports stay
inside the functions: the parts are imported alone by tests and by each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from stagectl.errors import ExitCode, PreflightError, StagectlError, UnhealthyError

if TYPE_CHECKING:
    from stagectl.backends.base import Backend
    from stagectl.chaos.probe import Dashboard
    from stagectl.chaos.runner import ChaosRun
    from stagectl.chaos.scenarios import Scenario
    from stagectl.config.loader import Project
    from stagectl.report.model import ChaosPhase

MODES = ("quick", "matrix", "off")
# Longest live probe interval each run tolerates: the matrix must finish in ~3 minutes.
MAX_INTERVAL_S = {"quick": 2.0, "matrix": 1.5}
# The dashboard probes its dependencies every HEALTH_CHECK_INTERVAL seconds (10 in the example
# env). Chaos has to see each degradation and recovery, which needs ~1 s probes to fit in minutes:
# `stagectl run` brings the stack up with this override (validate still judges the env file as
# written), and report.json lists it under config_overrides.
PROBE_INTERVAL_OVERRIDE = {"HEALTH_CHECK_INTERVAL": "1"}
# A stack brought up with a plain `up` (the configured, slower interval) is switched to this one
# for the chaos run through the dashboard's authenticated admin endpoint, and back after it.
CHAOS_INTERVAL_S = 1.0


def dashboard_for(project: Project) -> Dashboard:
    from stagectl.chaos.probe import Dashboard

    port = project.stack.services["dashboard"].port
    return Dashboard(f"http://127.0.0.1:{port}", project.env.get("DASHBOARD_API_KEY", ""))


def check_interval(dashboard: Dashboard, env: Mapping[str, str], which: str) -> float:
    """The live probe interval; StagectlError (exit 2) when it is too slow for this run."""
    limit = MAX_INTERVAL_S[which]
    window = 2 * limit + float(env.get("HEALTH_CHECK_TIMEOUT") or 3) + 1
    interval = dashboard.measure_interval(window)
    if interval is None or interval > limit + 0.5:
        seen = f"none within {window:.1f}s" if interval is None else f"{interval:.1f}s"
        raise StagectlError(
            f"the dashboard evaluates health too slowly for a {which} chaos run: interval {seen} "
            f"(env HEALTH_CHECK_INTERVAL={env.get('HEALTH_CHECK_INTERVAL', '?')}), at most {limit:g}s needed",
            hint="the dashboard did not take the chaos interval at run time (PUT /admin/health-interval); "
                 "bring the stack up with `stagectl --set HEALTH_CHECK_INTERVAL=1 up`",
            exit_code=ExitCode.USAGE)
    return interval


def select_scenarios(which: str = "quick", down_fault: str = "stop", names: Sequence[str] = ()) -> list[Scenario]:
    """The scenarios of `which` (quick | matrix), `down_fault` for stop faults, filtered by `names`."""
    from stagectl.chaos.scenarios import SCENARIO_SETS, Scenario

    if down_fault not in ("stop", "freeze"):
        raise StagectlError(f"--down-fault must be stop or freeze, not {down_fault!r}")
    scenarios = SCENARIO_SETS[which]()
    if down_fault != "stop":
        scenarios = [Scenario(s.name, tuple((svc, down_fault if f == "stop" else f) for svc, f in s.faults),
                              s.hold_breaker_open) for s in scenarios]
    if names:
        unknown = sorted(set(names) - {s.name for s in scenarios})
        if unknown:
            raise StagectlError(f"unknown scenario(s) {', '.join(unknown)}",
                                hint="known: " + ", ".join(s.name for s in scenarios))
        scenarios = [s for s in scenarios if s.name in names]
    return scenarios


def run_chaos_on_stack(project: Project, backend: Backend, scenarios: list[Scenario], *, which: str = "quick",
                       restart_timeout: float = 60.0, breakers: bool = False) -> ChaosRun:
    """Check the live probe interval (exit 2 when too slow for `which`), wait for OPTIMAL, run
    `scenarios` against the running stack, then (with `breakers`) time every breaker's half-open
    and close against its configured recovery timeout. Returns a ChaosRun."""
    from stagectl.chaos.faults import FaultTarget
    from stagectl.chaos.runner import ChaosRunner, Timing, final_health, run_chaos
    from stagectl.chaos.scenarios import LevelTable

    table = LevelTable.from_env(project.env)
    dashboard = dashboard_for(project)
    restore: float | None = None
    try:
        if dashboard.health() is None:
            raise PreflightError(f"the dashboard's /health gave no full report (HTTP {dashboard.last_status})",
                                 hint="is DASHBOARD_API_KEY the key the stack was started with?")
        live = dashboard.health_interval()
        if live is not None and live > MAX_INTERVAL_S[which]:
            restore = dashboard.set_health_interval(CHAOS_INTERVAL_S)
        interval = check_interval(dashboard, project.env, which)
        runner = ChaosRunner(FaultTarget(backend, project.stack, project.env, restart_timeout),
                             dashboard, table, Timing.from_env(project.env, interval))
        ready, _ = final_health(runner)  # a previous run may still be recovering: bounded wait
        if not ready:
            raise UnhealthyError("the stack is not healthy and OPTIMAL before chaos; nothing would be measured",
                                 hint="see `stagectl status` and the dashboard's /health")
        run = run_chaos(runner, scenarios)
        if breakers and run.final_healthy:
            from stagectl.chaos.alerts import AlertWatch
            from stagectl.chaos.breaker_timing import measure_all

            watch = AlertWatch.for_project(project, backend)
            reason = watch.unavailable()
            if reason:
                run.breakers = measure_all(runner, project.env, alert_skip=reason)
            else:
                with watch:
                    run.breakers = measure_all(runner, project.env, alerts=watch)
            run.final_healthy, run.final_detail = final_health(runner)  # whole again after the breakers
        return run
    finally:
        if restore is not None:
            dashboard.set_health_interval(restore)  # the stack goes on as it was brought up
        dashboard.close()


def chaos_phase(project: Project, backend: Backend, which: str = "quick") -> ChaosPhase:
    """The `which` scenario set against the running stack, as the report's chaos phase."""
    started = dt.datetime.now(dt.timezone.utc)
    run = run_chaos_on_stack(project, backend, select_scenarios(which), which=which, breakers=True)
    flag = "--matrix" if which == "matrix" else ""
    return phase_of(run, command=f"stagectl chaos {flag}".strip(), started_at=started)


def phase_of(run: ChaosRun, *, command: str, started_at: dt.datetime) -> ChaosPhase:
    """The report's chaos phase of one chaos run (`command` reruns it)."""
    from stagectl.levels import LEVELS
    from stagectl.report.model import ChaosPhase, ChaosScenario, LevelSample
    from stagectl.results import failure_summary

    checks = {c.id: c for c in run.check_results()}
    scenarios = [
        ChaosScenario(name=r.name, down=r.down, expected_level=r.expected_level,
                      observed_level=r.observed_level if r.observed_level in LEVELS else None,
                      features_ok=r.features_ok, time_to_degrade_s=r.time_to_degrade_s,
                      time_to_recover_s=r.time_to_recover_s, restored=r.restored, check=checks[f"chaos.{r.name}"])
        for r in run.scenarios
    ]
    # Samples where the dashboard did not answer have no level; the chart shows levels only.
    timeline = [LevelSample(t_s=s["t"], level=s["level"], scenario=s.get("scenario"))
                for s in run.timeline if s.get("level") in LEVELS]
    return ChaosPhase(status="passed" if run.ok else "failed", reason=failure_summary(list(checks.values())),
                      command=command, started_at=started_at, duration_s=run.wall_s,
                      scenarios=scenarios, timeline=timeline,
                      checks=[c for i, c in checks.items() if i.startswith(("chaos.breaker-timing.", "chaos.breaker-alert."))]
                      + [checks["chaos.final-health"]])


__all__ = ["MODES", "chaos_phase", "check_interval", "phase_of", "run_chaos_on_stack", "select_scenarios"]
