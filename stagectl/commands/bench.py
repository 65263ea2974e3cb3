"""`stagectl bench`: the bench phase (stagectl/bench/) against the running stack, as a table or
JSON. Exit 0 every target met, 1 a target missed, 2 usage, 4 no running stack."""

from __future__ import annotations

import typer
from rich.table import Table

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json


def _ms(value) -> str:
    return "" if value is None else f"{value:.1f}"


def _table(run) -> Table:
    table = Table(title="stagectl bench", title_justify="left")
    for column in ("target", "n", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s", "limit", "×ceiling", "status"):
        table.add_column(column)
    style = {"pass": "green", "fail": "red"}
    for t in run.targets:
        limit = f"p95≤{t.limit_ms:g}" if t.limit_ms is not None else ""
        ratio = f"{t.ratio_p50_to_ceiling:.1f}" if t.ratio_p50_to_ceiling is not None else ""
        table.add_row(t.name, str(t.count), str(t.errors), _ms(t.p50_ms), _ms(t.p95_ms), _ms(t.p99_ms),
                      _ms(t.throughput_rps), limit, ratio, f"[{style[t.status]}]{t.status}[/]")
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
        json_out: bool = typer.Option(False, "--json", help='{"targets": [...], "settings": {...}, "summary": {...}}'),
        backend: BackendOption = None,
    ) -> int:
        """Measure p50/p95/p99 of the dashboard and its services against the PERF_* targets."""
        from stagectl.bench import bench_project
        from stagectl.stack import running_stack

        project, _ = running_stack(backend)
        from stagectl.progress import reporting

        with reporting():
            run = bench_project(project, requests=requests, concurrency=concurrency or None, time_limit_s=time_limit,
                                direct_count=direct_count)
        concurrency = run.settings["concurrency"]
        if json_out:
            emit_json(run.to_dict())
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
