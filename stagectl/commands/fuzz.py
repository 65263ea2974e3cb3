"""`stagectl fuzz`: the fuzz phase (stagectl/fuzz/) against the running stack. Exit 0 no failure,
1 a failure (each printed with its curl command), 2 usage, 4 no running stack."""

from __future__ import annotations

from typing import Optional

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json


def register(app: typer.Typer) -> None:
    from stagectl.fuzz import DEFAULT_MAX_EXAMPLES, DEFAULT_TIME_LIMIT_S

    @app.command()
    def fuzz(
        max_examples: int = typer.Option(DEFAULT_MAX_EXAMPLES, "--max-examples", min=1, max=10_000,
                                         help="Cases per operation and generation mode (valid, invalid), at most."),
        time_limit: float = typer.Option(DEFAULT_TIME_LIMIT_S, "--time-limit", min=1.0, help="Seconds for the whole fuzz, at most."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Hypothesis seed (default: random; the report names it)."),
        target: Optional[str] = typer.Option(None, "--target", metavar="URL", help="Dashboard URL (default: the running stack)."),
        json_out: bool = typer.Option(False, "--json", help="The report's fuzz phase as JSON."),
        backend: BackendOption = None,
    ) -> int:
        """Fuzz every operation of the dashboard's OpenAPI document; no 5xx, headers on every answer."""
        from rich.markup import escape

        from stagectl.fuzz import fuzz_phase

        phase = fuzz_phase(context.get_project(), backend, max_examples=max_examples, time_limit_s=time_limit,
                           seed=seed, target=target)
        if json_out:
            emit_json(phase.model_dump(mode="json"))
        else:
            out = console()
            for check in phase.checks:
                colour = {"pass": "green", "skip": "yellow"}.get(check.status, "red")
                out.print(f"[{colour}]{check.status.upper():>5}[/] {escape(check.id)}: {escape(context.mask(check.message))}",
                          soft_wrap=True)
            for failure in phase.failures[:20]:
                out.print(f"[red]{failure.method} {escape(failure.path)}[/] {'; '.join(failure.problems)}\n  "
                          f"{escape(context.mask(failure.curl))}", soft_wrap=True)
            out.print(f"fuzz {'[green]passed[/]' if phase.status == 'passed' else '[red]FAILED[/]'}: {phase.requests} requests "
                      f"over {len(phase.per_route)} operations in {phase.duration_s:.1f}s (seed {phase.seed})")
        return int(ExitCode.OK if phase.status == "passed" else ExitCode.CHECKS_FAILED)
