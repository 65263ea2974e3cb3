"""`stagectl down [--volumes]`: stop everything `up` started; data survives unless --volumes."""

from __future__ import annotations

import time

import typer

from stagectl.commands.options import BackendOption
from stagectl.output import console


def register(app: typer.Typer) -> None:
    @app.command()
    def down(
        volumes: bool = typer.Option(False, "--volumes", help="Also delete the services' data."),
        backend: BackendOption = None,
    ) -> int:
        """Stop the stack (exit 5 when something survives)."""
        from stagectl.stack import backend_for, forget_backend

        stack_backend = backend_for(backend)
        started = time.monotonic()
        result = stack_backend.down(volumes=volumes)
        forget_backend(stack_backend)
        took = time.monotonic() - started
        out = console()
        if not result.stopped and not result.killed:
            out.print("nothing to stop" + ("; data removed" if result.volumes_removed else ""))
            return 0
        out.print(f"[green]stopped[/]: {', '.join(result.stopped + result.killed)} in {took:.2f}s")
        if result.killed:
            out.print(f"[yellow]needed SIGKILL after the grace period[/]: {', '.join(result.killed)}")
        if result.volumes_removed:
            out.print("data removed (--volumes)")
        return 0
