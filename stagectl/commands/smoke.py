"""`stagectl smoke`: run the live smoke suite (`checks/smoke/`) against the running stack.

Exit 0 when every test passed, 1 when any failed or errored (or nothing was collected), 4 when
no stack is running (and no --target was given), 2 on a config error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from stagectl import context
from stagectl.errors import ConfigError, ExitCode, PreflightError
from stagectl.output import console, emit_json
from stagectl.results import summarize

if TYPE_CHECKING:
    from stagectl.smoke import SmokeResult, SmokeTarget

SUITE = "stagectl.smoke"
_STYLE = {"fail": "bold red", "error": "bold magenta", "skip": "yellow", "pass": "green"}
_RUNNING = ("running", "healthy")


def _dashboard_service(project) -> tuple[str, object]:
    for name, svc in project.stack.services.items():
        if svc.runner == "dashboard":
            return name, svc
    raise ConfigError("the stack has no service with runner: dashboard; nothing to smoke-test",
                      hint="pass --target URL to test a dashboard running elsewhere")


def smoke_target(project, *, target: str | None = None, api_key_env: str | None = None,
                 backend: str = "local") -> SmokeTarget:
    """Where the suite points and what it expects: the project's variables with the endpoints the
    local backend gives the dashboard (so the suite talks to the same services), and — for a
    stack the local backend started — the dashboard's JSON log file. Raises PreflightError (exit 4)
    when no stack is running and no `target` was given."""
    from stagectl.backends.local.runners import RunnerContext, build_launch, service_endpoints
    from stagectl.smoke import SmokeTarget

    name, svc = _dashboard_service(project)
    ctx = RunnerContext(stack=project.stack, env=project.env, root=project.root, state_dir=project.state_dir)
    env = {**project.env, **service_endpoints(ctx)}
    if api_key_env:
        value = os.environ.get(api_key_env) or project.env.get(api_key_env)
        if not value:
            raise ConfigError(f"--api-key-env {api_key_env}: that variable is not set")
        env |= {api_key_env: value, "STAGECTL_API_KEY_ENV": api_key_env}
    if target:
        return SmokeTarget(url=target.rstrip("/"), env=env, dashboard_log=None)
    url = f"http://127.0.0.1:{_running_dashboard(name, backend).port}"
    if backend != "local":  # the log file lives inside the container: the logging tests say so and skip
        return SmokeTarget(url=url, env=env, dashboard_log=None)
    log_file = build_launch(name, svc, ctx).env.get("LOG_FILE")  # exactly where the backend sends it
    return SmokeTarget(url=url, env=env, dashboard_log=Path(log_file) if log_file else None)


def _running_dashboard(dashboard: str, backend: str):
    """The dashboard's status row (its published port); PreflightError when it is not running."""
    from stagectl.commands.up import backend_for

    stack_backend = backend_for(backend)
    # the local backend can answer from its state file alone; the smoke suite does the probing
    rows = stack_backend.status(probe=False) if backend == "local" else stack_backend.status()
    row = next((r for r in rows if r.name == dashboard), None)
    if row is None or row.state not in _RUNNING:
        state = row.state if row else "unknown"
        raise PreflightError(f"no stack is running (dashboard: {state})",
                             hint="run `stagectl up` first, or pass --target URL")
    return row


def run_smoke(target: SmokeTarget, **options) -> SmokeResult:
    """`stagectl.smoke.run_smoke`, imported when a suite runs (tests replace this name)."""
    from stagectl.smoke import run_smoke as run

    return run(target, **options)


def print_results(result: SmokeResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    table = Table(show_header=True, header_style="bold")
    for column in ("status", "test", "result", "ms"):
        table.add_column(column, overflow="fold")
    rank = {"fail": 0, "error": 1, "skip": 2, "pass": 3}
    for r in sorted(result.results, key=lambda r: (rank[r.status], r.id)):
        table.add_row(f"[{_STYLE[r.status]}]{r.status.upper()}[/]", escape(r.id),
                      escape(context.mask(r.message))[:300], f"{r.duration_ms:.0f}")
    out.print(table)
    s = summarize(result.results)
    colour = "green" if result.ok else "red"
    out.print(f"[{colour}]{s['passed']} passed, {s['failed']} failed, {s['errors']} errors, {s['skipped']} skipped[/] "
              f"of {s['total']} in {result.duration_s:.1f}s (pytest: {result.outcome})", soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("smoke")
    def smoke_command(
        target: Optional[str] = typer.Option(None, "--target", help="Dashboard URL (default: the running local stack).", metavar="URL"),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Variable holding the API key (default DASHBOARD_API_KEY).", metavar="NAME"),
        select: Optional[str] = typer.Option(None, "-k", help="Only tests matching this pytest -k expression.", metavar="EXPR"),
        as_json: bool = typer.Option(False, "--json", help="One JSON document: checks, summary, duration_s."),
        junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML to FILE.", metavar="FILE"),
        timeout: float = typer.Option(600.0, "--timeout", min=1.0, help="Kill the suite after S seconds.", metavar="S"),
        backend: str = typer.Option("local", "--backend", help="The backend that brought the stack up."),
    ) -> int:
        """Run the live smoke tests against the stack; exit 1 when any fails."""
        from rich.markup import escape

        from stagectl.report.junit import write_junit

        project = context.get_project()
        smoke = smoke_target(project, target=target, api_key_env=api_key_env, backend=backend)
        if api_key_env:  # any name may hold the key; mask it even when the name does not look secret
            context.current().masker.add(smoke.env[api_key_env])
        result = run_smoke(smoke, select=select, timeout_s=timeout)
        if junit is not None:
            write_junit(junit, {SUITE: result.results}, masker=context.mask)
        if as_json:
            # masked twice on purpose: the runner masks the project's secrets, this adds the CLI's
            emit_json(result.to_dict())
        else:
            print_results(result)
            if not result.ok and result.output_tail:
                console().print(escape(context.mask(result.output_tail)), soft_wrap=True)
        return int(ExitCode.OK if result.ok else ExitCode.CHECKS_FAILED)
