"""`stagectl soak`: the soak phase (stagectl/soak/) against the running stack. Exit 0 passed,
1 an error, an unstable p99 or a degraded stack, 2 usage, 4 no running stack."""

from __future__ import annotations

from typing import Optional

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.errors import ExitCode
from stagectl.output import console, emit_json


def register(app: typer.Typer) -> None:
    from stagectl.soak import DEFAULT_DURATION_S, DEFAULT_RATE_RPS

    @app.command()
    def soak(
        duration: float = typer.Option(DEFAULT_DURATION_S, "--duration", min=1.0, help="Seconds of load."),
        rate: float = typer.Option(DEFAULT_RATE_RPS, "--rate", min=0.1, max=5000, help="Requests per second (constant)."),
        window: Optional[float] = typer.Option(None, "--window", min=0.5,
                                               help="Seconds per p99 window (default 60, or a quarter of a soak under 240 s)."),
        target: Optional[str] = typer.Option(None, "--target", metavar="URL", help="Dashboard URL (default: the running stack)."),
        json_out: bool = typer.Option(False, "--json", help="The report's soak phase as JSON."),
        backend: BackendOption = None,
    ) -> int:
        """Constant-rate load on read and write endpoints: zero errors, p99 stable, RSS and fds reported."""
        from rich.markup import escape

        from stagectl.soak import soak_phase

        phase = soak_phase(context.get_project(), backend, duration_s=duration, rate_rps=rate, window_s=window,
                           target=target)
        if json_out:
            emit_json(phase.model_dump(mode="json"))
        else:
            out = console()
            for w in phase.windows:
                out.print(f"t={w.t_s:>6.1f}s n={w.n:<5} errors={w.errors:<3} p50={w.p50_ms} ms p99={w.p99_ms} ms")
            for check in phase.checks:
                colour = {"pass": "green", "skip": "yellow"}.get(check.status, "red")
                out.print(f"[{colour}]{check.status.upper():>5}[/] {escape(check.id)}: {escape(context.mask(check.message))}",
                          soft_wrap=True)
            out.print(f"soak {'[green]passed[/]' if phase.status == 'passed' else '[red]FAILED[/]'}: {phase.requests} requests "
                      f"at {phase.achieved_rps}/s in {phase.duration_s:.1f}s")
        return int(ExitCode.OK if phase.status == "passed" else ExitCode.CHECKS_FAILED)
