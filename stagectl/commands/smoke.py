"""`stagectl smoke`: run the live smoke suite (stagectl/smoke/) against the running stack.

Exit 0 when every test passed, 1 when any failed or errored (or nothing was collected), 4 when
no stack is running (and no --target was given), 2 on a config error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from stagectl import context
from stagectl.commands.options import BackendOption, value
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json
from stagectl.results import summarize

if TYPE_CHECKING:
    from stagectl.smoke.runner import SmokeResult

_STYLE = {"fail": "bold red", "error": "bold magenta", "skip": "yellow", "pass": "green"}


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
        backend: BackendOption = None,
    ) -> int:
        """Run the live smoke tests against the stack; exit 1 when any fails."""
        from rich.markup import escape

        from stagectl.report.junit import write_junit
        from stagectl.smoke import SUITE, runner
        from stagectl.smoke.target import smoke_target

        project = context.get_project()
        smoke = smoke_target(project, target=target, api_key_env=api_key_env, backend=value(backend))
        if api_key_env:  # any name may hold the key; mask it even when the name does not look secret
            context.current().masker.add(smoke.env[api_key_env])
        result = runner.run_smoke(smoke, select=select, timeout_s=timeout)
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
