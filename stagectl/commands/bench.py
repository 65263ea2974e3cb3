"""`stagectl bench`: the bench phase (stagectl/bench/) against the running stack, or with `--url`
against a stack stagectl did not start (its services' own targets are then not applicable), as a
table or JSON. Exit 0 every applicable target met, 1 a target missed, 2 usage, 4 no running stack
(or nothing answers at --url)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from stagectl import context
from stagectl.commands.options import ApiKeyFileOption, BackendOption, ReportOption, UrlOption
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json


def _ms(value) -> str:
    return "" if value is None else f"{value:.1f}"


def _table(run) -> Table:
    from stagectl.bench.load import targets_text  # the load client is heavy: imported when bench runs

    table = Table(title="stagectl bench", title_justify="left")
    for column in ("target", "n", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s", "targets", "req/s ×ceiling",
                   "status"):
        table.add_column(column)
    style = {"pass": "green", "fail": "red"}
    for t in run.targets:
        limit = targets_text(t)
        # the throughput share: the figure /health is judged on (PERF_HEALTH_CEILING_SHARE)
        ratio = f"{t.ratio_throughput_to_ceiling:.2f}" if t.ratio_throughput_to_ceiling is not None else ""
        table.add_row(t.name, str(t.count), str(t.errors), _ms(t.p50_ms), _ms(t.p95_ms), _ms(t.p99_ms),
                      _ms(t.throughput_rps), limit, ratio, f"[{style[t.status]}]{t.status}[/]")
    for c in run.not_applicable:
        table.add_row(c.id.removeprefix("bench."), *[""] * 8, "[dim]N/A[/]")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        requests: int = typer.Option(200, "--requests", min=1, max=100_000, help="Requests per HTTP endpoint."),
        concurrency: int = typer.Option(0, "--concurrency", min=0, max=1000,
                                        help="Concurrent clients per endpoint (default: PERF_CONCURRENCY)."),
        time_limit: float = typer.Option(30.0, "--time-limit", min=0.1, help="Seconds per target at most."),
        direct_count: int = typer.Option(200, "--direct-count", min=1, max=100_000,
                                         help="Operations per direct service measurement (db, redis, s3)."),
        json_out: bool = typer.Option(False, "--json",
                                      help='{"target": URL, "targets": [...], "settings": {...}, "summary": {...}}'),
        url: UrlOption = None,
        api_key_file: ApiKeyFileOption = None,
        report: ReportOption = None,
        backend: BackendOption = None,
    ) -> int:
        """Measure p50/p95/p99 of the dashboard and its services against the PERF_* targets."""
        from stagectl.bench import bench_project, phase_of
        from stagectl.remote import REMOTE_BACKEND, target_from_options
        from stagectl.stack import backend_name, running_stack

        remote = target_from_options(url, api_key_file=api_key_file, backend=backend)
        project = context.get_project() if remote else running_stack(backend)[0]
        started = dt.datetime.now(dt.timezone.utc)
        from stagectl.progress import reporting

        with reporting():
            run = bench_project(project, requests=requests, concurrency=concurrency or None, time_limit_s=time_limit,
                                direct_count=direct_count, remote=remote)
        concurrency = run.settings["concurrency"]
        if report is not None:
            from stagectl.report.standalone import record_phase

            command = f"stagectl bench --requests {requests} --time-limit {time_limit:g}"
            record_phase(report, "bench", phase_of(run, command=command + (f" --url {remote.url}" if remote else ""),
                                                   started_at=started),
                         project=project.stack.project, target=remote.url if remote else None,
                         backend=REMOTE_BACKEND if remote else backend_name(backend, project),
                         masker=context.current().masker)
        if json_out:
            target = remote.url if remote else f"http://127.0.0.1:{project.stack.services['dashboard'].port}"
            emit_json({"target": target, **run.to_dict()})
        else:
            out = console()
            out.print(_table(run))
            for t in run.targets:
                if t.detail:
                    out.print(f"[dim]{t.name}:[/] {context.mask(t.detail)}")
            if not run.concurrency_ok:
                out.print(f"[red]concurrency {concurrency} is below the contract's 10[/]")
            out.print(f"bench {'[green]passed[/]' if run.ok else '[red]FAILED[/]'}; {run.cleanup}")
        return 0 if run.ok else int(ExitCode.CHECKS_FAILED)
