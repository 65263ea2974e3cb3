"""`stagectl logs SERVICE [-f] [--tail N]`: a service's log file, secrets masked."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.errors import StagectlError


def register(app: typer.Typer) -> None:
    @app.command()
    def logs(
        service: str = typer.Argument(..., help="Service name from stagectl.yaml."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
        tail: int = typer.Option(None, "--tail", min=1, help="Only the last N lines."),
        backend: BackendOption = None,
    ) -> int:
        """Print a service's log."""
        from stagectl.stack import backend_for

        stack_backend = backend_for(backend)
        text = stack_backend.logs(service, tail=tail)
        if text:
            sys.stdout.write(context.mask(text).rstrip("\n") + "\n")
        if not follow:
            return 0
        if not hasattr(stack_backend, "log_path") or not hasattr(stack_backend, "store"):
            raise StagectlError(f"--follow needs the local backend (got {stack_backend.name})", hint="drop -f, or use `docker compose logs -f`")
        local: Any = stack_backend  # the local backend: log files and a state store
        path = local.log_path(service)
        position = path.stat().st_size if path.exists() else 0
        while local.store.read() is not None:  # until Ctrl-C (exit 130) or the stack is down
            size = path.stat().st_size if path.exists() else 0
            if size < position:  # truncated by log rotation
                position = 0
            if size > position:
                with open(path, "rb") as fh:
                    fh.seek(position)
                    chunk = fh.read(size - position)
                position = size
                # mask whole lines only, so a secret split across reads is still caught
                text, _, rest = chunk.decode("utf-8", "replace").rpartition("\n")
                position -= len(rest.encode())
                if text:
                    sys.stdout.write(context.mask(text) + "\n")
                    sys.stdout.flush()
            time.sleep(0.2)
        return 0
