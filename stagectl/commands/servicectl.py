"""The shared shape of `stagectl stop|start|restart SERVICE…` (one module per command name, because
the CLI loads a command's module by its name): parse, call stagectl.services, print a table."""

from __future__ import annotations

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.output import console, emit_json


def print_rows(rows, json_out: bool) -> None:
    if json_out:
        emit_json({"services": [{"name": r.name, "state": r.state, "healthy": r.healthy, "pid": r.pid,
                                 "port": r.port, "detail": context.mask(r.detail)} for r in rows]})
        return
    out = console()
    for r in rows:
        style = "green" if r.state == "healthy" else "yellow" if r.state in ("stopped", "exited") else "red"
        out.print(f"{r.name}: [{style}]{r.state}[/]" + (f" (pid {r.pid})" if r.pid and r.state != "stopped" else ""))


def register_verb(app: typer.Typer, verb: str, doc: str, *, waits: bool) -> None:
    """`verb` names the function of stagectl.services to call (imported when the command runs)."""
    def command(
        services: list[str] = typer.Argument(..., help="Service names from stagectl.yaml."),
        wait_timeout: float = typer.Option(120.0, "--wait-timeout", min=0.1, help="Seconds each service may take to become healthy."),
        json_out: bool = typer.Option(False, "--json", help='{"services": [{"name","state","healthy","pid","port","detail"}]}'),
        backend: BackendOption = None,
    ) -> int:
        from stagectl import services as service_control
        from stagectl.stack import backend_for

        action = getattr(service_control, verb)
        stack_backend = backend_for(backend)
        rows = action(stack_backend, services, wait_timeout=wait_timeout) if waits else action(stack_backend, services)
        print_rows(rows, json_out)
        return 0

    command.__doc__ = doc
    app.command(name=verb)(command)
