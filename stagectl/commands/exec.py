"""`stagectl exec SERVICE -- CMD…`: run a command in a service's environment; its exit code is ours."""

from __future__ import annotations

import sys

import typer

from stagectl.commands.options import BackendOption


def register(app: typer.Typer) -> None:
    @app.command(name="exec", context_settings={"allow_interspersed_args": False})
    def exec_(
        service: str = typer.Argument(..., help="Service name from stagectl.yaml."),
        command: list[str] = typer.Argument(..., help="The command and its arguments (after --)."),
        backend: BackendOption = None,
    ) -> int:
        """Run a command in a service's environment (local: its env, cwd, user; compose: docker compose exec)."""
        from stagectl.stack import backend_for

        if command[:1] == ["--"]:  # after the first positional click stops parsing and keeps the `--`
            command = command[1:]
        sys.stdout.flush()
        return backend_for(backend).exec_in(service, command, interactive=sys.stdin.isatty())
