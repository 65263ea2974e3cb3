"""`stagectl chaos`: break dependencies of the running stack and prove the dashboard degrades,
enforces and recovers as CONTRACT.md §4–§5 say. Exit 0 all passed, 1 a scenario failed, 2 usage
(or a probe interval too slow for the run), 4 no running stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from stagectl import context
from stagectl.errors import ExitCode, PreflightError, StagectlError, UnhealthyError
from stagectl.output import console, emit_json

if TYPE_CHECKING:
    from rich.table import Table

# Longest live probe interval each run tolerates: the matrix must finish in ~3 minutes.
MAX_INTERVAL_S = {"quick": 2.0, "matrix": 1.5}


def running_stack(backend_name: str):
    """(project, backend) of the running stack; PreflightError (exit 4) when the dashboard is not up."""
    from stagectl.backends import BackendContext, select_backend

    project = context.get_project()
    backend = select_backend(backend_name, BackendContext(stack=project.stack, env=project.env, root=project.root,
                                                          state_dir=project.state_dir))
    rows = {row.name: row for row in backend.status()}
    dashboard = rows.get("dashboard")
    if dashboard is None or not dashboard.healthy:
        state = dashboard.state if dashboard else "missing"
        raise PreflightError(f"no running stack for project {project.stack.project!r} (dashboard: {state})",
                             hint="start it with `stagectl up` (same --set options)")
    return project, backend


def dashboard_for(project):
    from stagectl.chaos_probe import Dashboard

    port = project.stack.services["dashboard"].port
    return Dashboard(f"http://127.0.0.1:{port}", project.env.get("DASHBOARD_API_KEY", ""))


def check_interval(dashboard, env, which: str) -> float:
    """The live probe interval; StagectlError (exit 2) when it is too slow for this run."""
    limit = MAX_INTERVAL_S[which]
    window = 2 * limit + float(env.get("HEALTH_CHECK_TIMEOUT") or 3) + 1
    interval = dashboard.measure_interval(window)
    if interval is None or interval > limit + 0.5:
        seen = "none within %.1fs" % window if interval is None else f"{interval:.1f}s"
        raise StagectlError(
            f"the dashboard evaluates health too slowly for a {which} chaos run: interval {seen} "
            f"(env HEALTH_CHECK_INTERVAL={env.get('HEALTH_CHECK_INTERVAL', '?')}), at most {limit:g}s needed",
            hint="bring the stack up with `stagectl --set HEALTH_CHECK_INTERVAL=1 up` (and the same --set for chaos)",
            exit_code=ExitCode.USAGE)
    return interval


def _table(run) -> Table:
    from rich.table import Table

    table = Table(title="stagectl chaos", title_justify="left")
    for column in ("scenario", "expected", "observed", "features", "degrade", "recover", "status"):
        table.add_column(column)
    style = {"pass": "green", "fail": "red", "skip": "yellow"}
    for r in run.scenarios:
        table.add_row(r.name, f"{r.expected_level} {r.expected_score:g}", f"{r.observed_level} {r.observed_score}",
                      "ok" if r.features_ok else "MISMATCH", f"{r.time_to_degrade_s}s", f"{r.time_to_recover_s}s",
                      f"[{style[r.status]}]{r.status}[/]")
    return table


def select_scenarios(which: str = "quick", down_fault: str = "stop", names=()) -> list:
    """The scenarios of `which` (quick | matrix), `down_fault` for stop faults, filtered by `names`."""
    from stagectl.chaos import SCENARIO_SETS, Scenario

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


def run_chaos_on_stack(project, backend, scenarios: list, *, which: str = "quick", restart_timeout: float = 60.0):
    """The core of `stagectl chaos` (the pipeline calls it too): check the live probe interval
    (exit 2 when too slow for `which`), wait for OPTIMAL, run `scenarios`. Returns a ChaosRun."""
    from stagectl.chaos import LevelTable
    from stagectl.chaos_run import ChaosRunner, Timing, final_health, run_chaos
    from stagectl.faults import FaultTarget

    table = LevelTable.from_env(project.env)
    dashboard = dashboard_for(project)
    try:
        if dashboard.health() is None:
            raise PreflightError(f"the dashboard's /health gave no full report (HTTP {dashboard.last_status})",
                                 hint="is DASHBOARD_API_KEY the key the stack was started with?")
        interval = check_interval(dashboard, project.env, which)
        runner = ChaosRunner(FaultTarget(backend, project.stack, project.env, restart_timeout),
                             dashboard, table, Timing.from_env(project.env, interval))
        ready, _ = final_health(runner)  # a previous run may still be recovering: bounded wait
        if not ready:
            raise UnhealthyError("the stack is not healthy and OPTIMAL before chaos; nothing would be measured",
                                 hint="see `stagectl status` and the dashboard's /health")
        return run_chaos(runner, scenarios)
    finally:
        dashboard.close()


def register(app: typer.Typer) -> None:
    @app.command()
    def chaos(
        matrix: bool = typer.Option(False, "--matrix", help="All 16 up/down combinations of the four dependencies."),
        scenario: list[str] = typer.Option([], "--scenario", help="Run only these scenarios (by name)."),
        down_fault: str = typer.Option("stop", "--down-fault", help="How database/redis/s3 go down: stop or freeze."),
        json_out: bool = typer.Option(False, "--json", help='{"scenarios": [...], "summary": {...}, "timeline": [...]}'),
        restart_timeout: float = typer.Option(60.0, "--restart-timeout", min=1, help="Seconds a restarted service may take."),
        backend: str = typer.Option("local", "--backend", help="local (processes) or compose."),
    ) -> int:
        """Inject faults, check degradation, enforcement and recovery against CONTRACT.md."""
        which = "matrix" if matrix else "quick"
        scenarios = select_scenarios(which, down_fault, scenario)  # usage errors before anything else
        project, stack_backend = running_stack(backend)
        run = run_chaos_on_stack(project, stack_backend, scenarios, which=which, restart_timeout=restart_timeout)
        if json_out:
            emit_json(run.to_dict())
        else:
            out = console()
            out.print(_table(run))
            for r in run.scenarios:
                if r.detail:
                    out.print(f"[dim]{r.name}:[/] {context.mask(r.detail)}")
            verdict = "[green]passed[/]" if run.ok else "[red]FAILED[/]"
            out.print(f"chaos {verdict} in {run.wall_s:.1f}s (probe interval {run.interval_s:.2f}s); "
                      f"final: {'healthy' if run.final_healthy else context.mask(run.final_detail)}")
        return 0 if run.ok else int(ExitCode.CHECKS_FAILED)
