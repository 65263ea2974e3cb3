"""`stagectl bench`: bounded load on the running stack, judged against CONTRACT.md §8 (PERF_*).
Exit 0 every target met, 1 a target missed, 2 usage, 4 no running stack."""

from __future__ import annotations

import typer
from rich.table import Table

from stagectl import context
from stagectl.errors import ConfigError, ExitCode
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


def bench_project(project, *, requests: int = 200, concurrency: int | None = None, time_limit_s: float = 30.0,
                  direct_count: int = 200):
    """The core of `stagectl bench` (the pipeline calls it too) for a running stack: a BenchRun.
    `concurrency` None means PERF_CONCURRENCY from the project env."""
    from stagectl.bench_stack import run_bench

    env = project.env
    if concurrency is None:
        try:
            concurrency = int(env["PERF_CONCURRENCY"])
        except (KeyError, ValueError):
            raise ConfigError("PERF_CONCURRENCY must be set (or pass --concurrency)") from None
    services = project.stack.services
    ports = {name: services[name].port for name in ("dashboard", "postgres", "redis", "s3")}
    return run_bench(env, ports, env.get("DASHBOARD_API_KEY", ""), requests=requests, concurrency=concurrency,
                     time_limit_s=time_limit_s, direct_count=direct_count)


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
        backend: str = typer.Option("local", "--backend", help="local (processes) or compose."),
    ) -> int:
        """Measure p50/p95/p99 of the dashboard and its services against the PERF_* targets."""
        from stagectl.commands.chaos import running_stack

        project, _ = running_stack(backend)
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
