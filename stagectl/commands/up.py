"""`stagectl up`: start the stack, wait until every service is healthy, print its endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.output import PlainProgress, console, emit_json

if TYPE_CHECKING:
    from rich.table import Table

_PHASE_STYLE = {"healthy": "green", "failed": "red", "aborted": "yellow", "waiting": "cyan", "starting": "cyan"}


def _progress_table(state: dict) -> Table:
    from rich.table import Table

    table = Table(title="stagectl up", title_justify="left")
    for column in ("service", "state", "ready", "detail"):
        table.add_column(column)
    for name, rec in (state.get("services") or {}).items():
        phase = rec.get("phase", "pending")
        ready = f"{rec['ready_s']:.2f}s" if rec.get("ready_s") is not None else ""
        detail = rec.get("last_probe") if phase == "waiting" else rec.get("detail", "")
        style = _PHASE_STYLE.get(phase, "")
        table.add_row(name, f"[{style}]{phase}[/]" if style else phase, ready, context.mask(detail or ""))
    return table


def started_services(result) -> list:
    """The services `up` started: not the skipped ones. Not "those with a pid": a container has
    none, and `up --json` on the compose backend once listed no service at all."""
    return [s for s in result.services if s.state != "skipped" and s.name not in result.skipped]


def endpoints_table(result) -> Table:
    from rich.table import Table

    table = Table(title="endpoints", title_justify="left")
    for column in ("service", "url", "pid", "ready"):
        table.add_column(column)
    for row in started_services(result):
        ready = f"{row.ready_s:.2f}s" if row.ready_s is not None else ""
        table.add_row(row.name, f"127.0.0.1:{row.port}", "" if row.pid is None else str(row.pid), ready)
    for name, reason in result.skipped.items():
        table.add_row(name, f"[dim]skipped: {reason}[/]", "", "")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        services: list[str] = typer.Argument(None, help="Only these services and their dependencies (default: all)."),
        wait_timeout: float = typer.Option(120.0, "--wait-timeout", min=0.1, help="Seconds until every service must be healthy."),
        json_out: bool = typer.Option(False, "--json", help="Machine output: per-service ready times."),
        backend: BackendOption = None,
    ) -> int:
        """Start the stack (or the named services and their dependencies) and wait until healthy (idempotent)."""
        from stagectl.errors import StagectlError, TeardownError
        from stagectl.stack import backend_for, bring_up, forget_backend, remember_backend

        stack_backend = backend_for(backend)
        if services:
            from stagectl import services as service_control
            from stagectl.commands.servicectl import print_rows

            rows = service_control.up(stack_backend, services, wait_timeout=wait_timeout)
            remember_backend(stack_backend)
            print_rows(rows, json_out)
            return 0
        out = console()
        remember_backend(stack_backend)  # first: a killed `up` leaves a stack that `down` must find
        try:
            if json_out or not out.is_terminal:
                result = bring_up(stack_backend, wait_timeout, PlainProgress())
            else:
                from rich.live import Live

                with Live(_progress_table({}), console=out, refresh_per_second=10, transient=True) as live:
                    result = bring_up(stack_backend, wait_timeout, lambda state: live.update(_progress_table(state)))
        except StagectlError as exc:
            if not isinstance(exc, TeardownError):  # the backend tore its stack down: nothing runs
                forget_backend(stack_backend)
            raise
        if json_out:
            emit_json({
                "unchanged": result.unchanged, "total_s": result.total_s, "skipped": result.skipped,
                "services": [{"name": s.name, "state": s.state, "pid": s.pid, "port": s.port, "ready_s": s.ready_s}
                             for s in started_services(result)],
            })
            return 0
        if result.unchanged:
            out.print("[green]unchanged[/]: the stack is already up with this configuration")
        else:
            out.print(f"[green]up[/]: all services healthy in {result.total_s:.2f}s")
        out.print(endpoints_table(result))
        return 0
