"""`stagectl chaos`: the chaos phase (stagectl/chaos/) against the running stack, as a table or
JSON. Exit 0 all passed, 1 a scenario failed, 2 usage (or a probe interval too slow for the run),
4 no running stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from stagectl import context
from stagectl.commands.options import BackendOption, DownFault, value
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json

if TYPE_CHECKING:
    from rich.table import Table


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


def register(app: typer.Typer) -> None:
    @app.command()
    def chaos(
        matrix: bool = typer.Option(False, "--matrix", help="All 16 up/down combinations of the four dependencies."),
        scenario: list[str] = typer.Option([], "--scenario", help="Run only these scenarios (by name)."),
        down_fault: DownFault = typer.Option(DownFault.stop, "--down-fault", help="How database/redis/s3 go down: stop or freeze."),
        json_out: bool = typer.Option(False, "--json", help='{"scenarios": [...], "summary": {...}, "timeline": [...]}'),
        restart_timeout: float = typer.Option(60.0, "--restart-timeout", min=1, help="Seconds a restarted service may take."),
        backend: BackendOption = None,
    ) -> int:
        """Inject faults, check degradation, enforcement and recovery (docs/contract.md §4–§5)."""
        from stagectl.chaos import run_chaos_on_stack, select_scenarios
        from stagectl.stack import running_stack

        which = "matrix" if matrix else "quick"
        scenarios = select_scenarios(which, str(value(down_fault)), scenario)  # usage errors before anything else
        project, stack_backend = running_stack(backend)
        from stagectl.progress import reporting

        with reporting():
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
