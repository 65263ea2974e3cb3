"""`stagectl logs [SERVICE…] [-f] [--tail N] [--since T]`: the services' logs (none named = all),
interleaved by time with coloured name prefixes (plain `name | ` without a terminal, none for a
single service), secrets masked."""

from __future__ import annotations

import sys

import typer

from stagectl import context
from stagectl.commands.options import BackendOption
from stagectl.errors import ConfigError

_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta",
            "bright_green", "bright_yellow", "bright_blue")


def register(app: typer.Typer) -> None:
    @app.command()
    def logs(
        services: list[str] = typer.Argument(None, help="Service names from stagectl.yaml (default: all)."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
        tail: int = typer.Option(None, "--tail", min=1, help="Only the last N lines of each service."),
        since: str = typer.Option(None, "--since", help="Only lines from this time on: a duration (10m, 2h) or an ISO time."),
        no_prefix: bool = typer.Option(False, "--no-log-prefix", help="No service-name prefix."),
        backend: BackendOption = None,
    ) -> int:
        """Print the services' logs, interleaved by time (none named: all)."""
        from rich.markup import escape

        from stagectl.logstream import parse_since
        from stagectl.output import console
        from stagectl.stack import backend_for

        try:
            since_at = parse_since(since) if since else None
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        stack_backend = backend_for(backend)
        names = list(services or []) or list(stack_backend.ctx.stack.services)
        width = max(len(n) for n in names)
        colour = {n: _COLOURS[i % len(_COLOURS)] for i, n in enumerate(stack_backend.ctx.stack.services)}
        out = console()
        no_prefix = no_prefix or len(names) == 1  # one service: its log as it is (like `kubectl logs`)
        plain = not out.is_terminal
        for line in stack_backend.log_lines(list(services or []), tail=tail, since=since_at, follow=follow):
            text = context.mask(line.text)
            if no_prefix:
                sys.stdout.write(text + "\n")
            elif plain:
                sys.stdout.write(f"{line.service.ljust(width)} | {text}\n")
            else:
                out.print(f"[{colour.get(line.service, 'white')}]{escape(line.service.ljust(width))} |[/] {escape(text)}",
                          soft_wrap=True)
            if follow:
                sys.stdout.flush()
        return 0
