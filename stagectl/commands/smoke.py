"""`stagectl smoke`: run the live smoke suite (stagectl/smoke/) against the running stack, or with
`--url` against a stack stagectl did not start (stagectl/remote.py).

Exit 0 when every applicable test passed, 1 when any failed or errored (or nothing applicable was
collected), 4 when no stack is running (no --target/--url) or nothing answers at --url, 2 on a
config error (a bad URL, no API key).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from stagectl import context
from stagectl.commands.options import ApiKeyFileOption, BackendOption, ReportOption, UrlOption, value
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json
from stagectl.results import summarize

if TYPE_CHECKING:
    from stagectl.smoke.runner import SmokeResult

_STYLE = {"fail": "bold red", "error": "bold magenta", "skip": "yellow", "pass": "green"}


def print_results(result: SmokeResult, url: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    table = Table(show_header=True, header_style="bold")
    for column in ("status", "test", "result", "ms"):
        table.add_column(column, overflow="fold")
    rank = {"fail": 0, "error": 1, "skip": 2, "pass": 3}
    for r in sorted(result.results, key=lambda r: (rank[r.status], r.not_applicable, r.id)):
        status = "[dim]N/A[/]" if r.not_applicable else f"[{_STYLE[r.status]}]{r.status.upper()}[/]"
        table.add_row(status, escape(r.id), escape(context.mask(r.message))[:300], f"{r.duration_ms:.0f}")
    out.print(table)
    s = summarize(result.results)
    colour = "green" if result.ok else "red"
    out.print(f"[{colour}]{s['passed']} passed, {s['failed']} failed, {s['errors']} errors, {s['skipped']} skipped, "
              f"{s['not_applicable']} not applicable[/] of {s['total']} against {escape(url)} "
              f"in {result.duration_s:.1f}s (pytest: {result.outcome})", soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("smoke")
    def smoke_command(
        url: UrlOption = None,
        api_key_file: ApiKeyFileOption = None,
        target: Optional[str] = typer.Option(None, "--target", metavar="URL",
                                             help="Dashboard URL backed by this project's running local services."),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", metavar="NAME",
                                                  help="Variable holding the API key (default DASHBOARD_API_KEY; "
                                                       "with --url STAGECTL_API_KEY)."),
        select: Optional[str] = typer.Option(None, "-k", help="Only tests matching this pytest -k expression.", metavar="EXPR"),
        as_json: bool = typer.Option(False, "--json", help="One JSON document: target, checks, summary, duration_s."),
        junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML to FILE.", metavar="FILE"),
        report: ReportOption = None,
        timeout: float = typer.Option(600.0, "--timeout", min=1.0, help="Kill the suite after S seconds.", metavar="S"),
        backend: BackendOption = None,
    ) -> int:
        """Run the live smoke tests against the stack; exit 1 when any fails."""
        from rich.markup import escape

        from stagectl.errors import ConfigError
        from stagectl.remote import REMOTE_BACKEND, target_from_options
        from stagectl.report.junit import write_junit
        from stagectl.smoke import SUITE, phase_of, runner
        from stagectl.smoke.target import remote_smoke_target, smoke_target
        from stagectl.stack import backend_name

        if url and target:
            raise ConfigError("--url and --target exclude each other",
                              hint="--url: a stack stagectl did not start; --target: a dashboard on this project's local services")
        remote = target_from_options(url, api_key_file=api_key_file, api_key_env=api_key_env, backend=backend)
        project = context.get_project()
        if remote is not None:
            smoke = remote_smoke_target(project, remote)
        else:
            smoke = smoke_target(project, target=target, api_key_env=api_key_env, backend=value(backend))
            if api_key_env:  # any name may hold the key; mask it even when the name does not look secret
                context.current().masker.add(smoke.env[api_key_env])
        started = dt.datetime.now(dt.timezone.utc)
        result = runner.run_smoke(smoke, select=select, timeout_s=timeout)
        if junit is not None:
            write_junit(junit, {SUITE: result.results}, masker=context.mask)
        if report is not None:
            from stagectl.report.standalone import record_phase

            command = f"stagectl smoke --url {remote.url}" if remote else "stagectl smoke"
            record_phase(report, "smoke", phase_of(result, command=command, started_at=started),
                         project=project.stack.project, target=remote.url if remote else None,
                         backend=REMOTE_BACKEND if remote else backend_name(backend, project),
                         masker=context.current().masker)
        if as_json:
            # masked twice on purpose: the runner masks the project's secrets, this adds the CLI's
            emit_json({"target": smoke.url, "remote": smoke.remote, **result.to_dict()})
        else:
            print_results(result, smoke.url)
            if not result.ok and result.output_tail:
                console().print(escape(context.mask(result.output_tail)), soft_wrap=True)
        return int(ExitCode.OK if result.ok else ExitCode.CHECKS_FAILED)
