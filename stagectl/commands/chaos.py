"""`stagectl chaos`: the chaos phase (stagectl/chaos/) against the running stack, as a table or
JSON. With `--url` (a stack stagectl did not start) only the baseline is observed and every fault
scenario is reported not applicable (stagectl/chaos/remote.py). Exit 0 all applicable passed, 1 a
scenario failed, 2 usage (or a probe interval too slow for the run), 4 no running stack (or
nothing answers at --url)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer

from stagectl import context
from stagectl.commands.options import ApiKeyFileOption, BackendOption, DownFault, ReportOption, UrlOption, value
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
        if r.not_applicable:
            table.add_row(r.name, f"{r.expected_level} {r.expected_score:g}", "", "", "", "", "[dim]N/A[/]")
            continue
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
        url: UrlOption = None,
        api_key_file: ApiKeyFileOption = None,
        report: ReportOption = None,
        backend: BackendOption = None,
    ) -> int:
        """Inject faults, check degradation, enforcement and recovery (docs/contract.md §4–§5)."""
        from stagectl.chaos import phase_of, run_chaos_on_stack, select_scenarios
        from stagectl.remote import REMOTE_BACKEND, target_from_options
        from stagectl.stack import backend_name, running_stack

        which = "matrix" if matrix else "quick"
        scenarios = select_scenarios(which, str(value(down_fault)), scenario)  # usage errors before anything else
        remote = target_from_options(url, api_key_file=api_key_file, backend=backend)
        started = dt.datetime.now(dt.timezone.utc)
        if remote is not None:
            from stagectl.chaos.remote import observe_remote

            project = context.get_project()
            run = observe_remote(project, remote, scenarios)
        else:
            project, stack_backend = running_stack(backend)
            from stagectl.progress import reporting

            with reporting():
                # every breaker's timing too, unless only some scenarios were asked for
                run = run_chaos_on_stack(project, stack_backend, scenarios, which=which,
                                         restart_timeout=restart_timeout, breakers=not scenario)
        if report is not None:
            from stagectl.report.standalone import record_phase

            command = "stagectl chaos" + (" --matrix" if matrix else "") + (f" --url {remote.url}" if remote else "")
            record_phase(report, "chaos", phase_of(run, command=command, started_at=started),
                         project=project.stack.project, target=remote.url if remote else None,
                         backend=REMOTE_BACKEND if remote else backend_name(backend, project),
                         masker=context.current().masker)
        if json_out:
            emit_json({"target": remote.url if remote else None, **run.to_dict()})
        else:
            out = console()
            out.print(_table(run))
            for b in run.breakers:
                mark = "[green]pass[/]" if b.ok else "[red]fail[/]"
                out.print(f"breaker {b.service}: {mark} {context.mask(b.check().message)}")
            for r in run.scenarios:
                if r.detail:
                    out.print(f"[dim]{r.name}:[/] {context.mask(r.detail)}")
            verdict = "[green]passed[/]" if run.ok else "[red]FAILED[/]"
            out.print(f"chaos {verdict} in {run.wall_s:.1f}s (probe interval {run.interval_s:.2f}s); "
                      f"final: {'healthy' if run.final_healthy else context.mask(run.final_detail)}")
        return 0 if run.ok else int(ExitCode.CHECKS_FAILED)
