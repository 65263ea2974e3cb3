"""The Typer app and its single error boundary.

Each command lives in `stagectl/commands/<name>.py` and exposes `register(app)`. A command whose
module does not exist yet is registered as a placeholder that exits 2 with "not implemented yet".
Core code raises StagectlError; only this module turns errors into a red line, a hint and an
exit code. Tracebacks are shown only with --debug, and never with local variables (they can hold
secrets).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click
import typer
from rich.console import Console

from stagectl.errors import ExitCode, StagectlError

COMMANDS = (
    "init", "config", "render", "validate", "up", "status", "logs", "down",
    "smoke", "chaos", "bench", "report", "run",
)

app = typer.Typer(
    name="stagectl",
    help="Take a service stack into staging and prove it works.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
)

_debug = False


def err_console() -> Console:
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (never with local variables)."),
) -> None:
    global _debug
    _debug = debug


def _placeholder(name: str):
    def command() -> None:
        raise StagectlError(f"`stagectl {name}` is not implemented yet", exit_code=ExitCode.USAGE)

    command.__doc__ = f"(not implemented yet) {name}"
    return command


def _register_commands() -> None:
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"stagectl.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"stagectl.commands.{name}":
                raise
            app.command(name=name, help=f"(not implemented yet) {name}")(_placeholder(name))
            continue
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `stagectl` command: run the app inside the error boundary."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="stagectl", standalone_mode=False)
    except StagectlError as exc:
        console = err_console()
        console.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True)
        if exc.hint:
            console.print(f"[dim]hint:[/] {exc.hint}", soft_wrap=True)
        if _debug:
            traceback.print_exc()
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        err_console().print("[red]interrupted[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except Exception as exc:  # the boundary: no raw traceback (and no locals) without --debug
        err_console().print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        if _debug:
            traceback.print_exc()
        else:
            err_console().print("[dim]hint:[/] rerun with --debug for the traceback")
        sys.exit(70)
    sys.exit(int(result or 0))
