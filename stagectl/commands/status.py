"""`stagectl status`: the state of every service (live probes), or `stale` after a dead owner."""

from __future__ import annotations

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.output import console, emit_json

_STYLE = {"healthy": "green", "unhealthy": "red", "exited": "red", "stale": "yellow", "paused": "yellow"}


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        json_out: bool = typer.Option(False, "--json", help='{"services": [{"name","state","healthy","pid","port","ready_s"}]}'),
        backend: BackendOption = None,
    ) -> int:
        """Show every service's state (probed now)."""
        from stagectl.stack import backend_for

        rows = backend_for(backend).status()
        if json_out:
            emit_json({"services": [{"name": r.name, "state": r.state, "healthy": r.healthy, "pid": r.pid,
                                     "port": r.port, "ready_s": r.ready_s, "detail": context.mask(r.detail)}
                                    for r in rows]})
            return 0
        from rich.table import Table

        table = Table()
        for column in ("service", "state", "pid", "port", "ready", "detail"):
            table.add_column(column)
        for r in rows:
            style = _STYLE.get(r.state, "")
            table.add_row(r.name, f"[{style}]{r.state}[/]" if style else r.state, str(r.pid or ""), str(r.port),
                          f"{r.ready_s:.2f}s" if r.ready_s is not None else "", context.mask(r.detail))
        console().print(table)
        return 0
