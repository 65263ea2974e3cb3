"""`stagectl run`: the whole pipeline for CI (stagectl/run.py), and its summary lines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stagectl import context
from stagectl.commands.options import BackendOption, ChaosMode, TeardownMode, value
from stagectl.output import console

if TYPE_CHECKING:
    from stagectl.pipeline import PipelineResult


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        backend: BackendOption = None,
        chaos: ChaosMode = typer.Option(ChaosMode.quick, "--chaos", help="quick (the dashboard's own failure modes), matrix (all 16), or off."),
        teardown: TeardownMode = typer.Option(TeardownMode.always, "--teardown", help="always | on-success | never."),
        wait_timeout: float = typer.Option(120.0, "--wait-timeout", min=1.0, help="Seconds until every service must be healthy."),
        bench_seconds: float = typer.Option(5.0, "--bench-seconds", min=0.0, help="Time limit per bench endpoint (0 = skip bench)."),
        fuzz_seconds: float = typer.Option(45.0, "--fuzz-seconds", min=0.0, help="Time limit of the fuzz phase (0 = skip fuzz)."),
        fuzz_examples: int = typer.Option(15, "--fuzz-examples", min=1, help="Fuzz cases per operation and generation mode."),
        soak_seconds: float = typer.Option(60.0, "--soak-seconds", min=0.0, help="Duration of the soak phase (0 = skip soak)."),
        out: Path = typer.Option(Path("reports"), "--out", help="Where report.json and its views go."),
        volumes: bool = typer.Option(False, "--volumes", help="Also delete the stack's data at teardown."),
    ) -> int:
        """The whole pipeline for CI (exit codes: see README)."""
        from stagectl.progress import reporting
        from stagectl.run import RunOptions, run_pipeline

        with reporting():
            result, out_dir = run_pipeline(RunOptions(backend=value(backend), chaos=str(value(chaos)), teardown=str(value(teardown)),
                                                      wait_timeout=wait_timeout, bench_seconds=bench_seconds,
                                                      fuzz_seconds=fuzz_seconds, fuzz_examples=fuzz_examples,
                                                      soak_seconds=soak_seconds, out=out, volumes=volumes))
        print_summary(result, out_dir)
        return result.exit_code


def print_summary(result: PipelineResult, out_dir: Path) -> None:
    out = console()
    for record in result.records:
        colour = {"passed": "green", "failed": "red", "error": "magenta"}.get(record.status, "yellow")
        reason = f" — {context.mask(record.reason)}" if record.reason else ""
        out.print(f"[{colour}]{record.status:>11}[/] {record.name} ({record.duration_s:.2f}s){reason}", soft_wrap=True)
    out.print(f"outcome: [bold]{result.outcome}[/] (exit {result.exit_code}); report in {out_dir}")
