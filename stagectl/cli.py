"""The Typer app and its single error boundary.

Each command lives in `stagectl/commands/<name>.py` and exposes `register(app)`. A command whose
module does not exist yet is registered as a placeholder that exits 2 with "not implemented yet".
Core code raises StagectlError; only this module turns errors into a red line, a hint and an
exit code. Tracebacks are shown only with --debug, never with local variables (they can hold
secrets), and every line printed here passes through the secrets masker.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.markup import escape

from stagectl import context
from stagectl.errors import ExitCode, StagectlError

try:  # typer >= 0.2x vendors its own copy of click; commands may raise either family
    from typer._click.exceptions import ClickException as _VendoredClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    _VendoredClickException = click.ClickException
_CLICK_ERRORS = (click.ClickException, _VendoredClickException)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_EXITS = (click.exceptions.Exit, typer.Exit)

COMMANDS = (
    "init", "config", "render", "validate", "up", "status", "logs", "down",
    "smoke", "chaos", "bench", "report", "run",
)
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in stagectl, not in the user's input
_SET_ITEM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)

def err_console() -> Console:
    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        match = _SET_ITEM.match(item)
        if not match:
            name = item.split("=", 1)[0]
            raise typer.BadParameter(f"expected KEY=VALUE with KEY like [A-Za-z_][A-Za-z0-9_]*, got key {name!r}", param_hint="--set")
        out[match.group(1)] = match.group(2)
    return out


def _root(
    project_dir: Optional[Path] = typer.Option(
        None, "--project-dir", "-C", help="Project directory (holding stagectl.yaml); default: search upwards from cwd.",
        file_okay=False,
    ),
    env_file: Optional[Path] = typer.Option(None, "--env-file", help="Env file to use instead of the spec's env_file."),
    sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Override a variable (repeatable; wins over env and file)."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours (also when NO_COLOR is set)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (never with local variables)."),
) -> None:
    no_color = no_color or bool(os.environ.get("NO_COLOR"))
    if no_color:
        os.environ["NO_COLOR"] = "1"  # every Console (output.console, err_console) honours it
    context.reset(project_dir=project_dir, env_file=env_file, overrides=_parse_sets(sets), debug=debug, no_color=no_color)


def _placeholder(name: str):
    def command() -> None:
        raise StagectlError(f"`stagectl {name}` is not implemented yet", exit_code=ExitCode.USAGE)

    command.__doc__ = f"(not implemented yet) {name}"
    return command


def _broken(name: str, error: Exception):
    """A stand-in for a command whose module fails to import: exits 70 naming the error."""
    detail = f"{type(error).__name__}: {error}"

    def command() -> None:
        raise RuntimeError(f"`stagectl {name}` cannot be loaded: {detail}")

    return command


def build_app(commands: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """A Typer app with the global options and `commands` (placeholders for missing modules)."""
    application = typer.Typer(
        name="stagectl",
        help="Take a service stack into staging and prove it works.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=True,
    )
    application.callback()(_root)
    for name in commands:
        try:
            module = importlib.import_module(f"stagectl.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"stagectl.commands.{name}":
                application.command(name=name, help=f"(broken: {type(exc).__name__}) {name}")(_broken(name, exc))
                continue
            application.command(name=name, help=f"(not implemented yet) {name}")(_placeholder(name))
            continue
        except Exception as exc:  # one broken command must not take the whole CLI (and its boundary) down
            application.command(name=name, help=f"(broken: {type(exc).__name__}) {name}")(_broken(name, exc))
            continue
        module.register(application)
    return application


app = build_app()


def _raise_interrupted(signum: int, _frame: object) -> None:
    # remembered as well as raised: typer turns any KeyboardInterrupt into "exit 130"
    context.current().interrupted_by = signum
    raise context.Interrupted(signum)


def _report(headline: str, hint: str | None) -> None:
    """One red line and an optional dim hint on stderr, secrets masked, no markup injection."""
    console = err_console()
    context.learn_env_secrets()
    mask = context.mask
    console.print(f"[bold red]error:[/] {escape(mask(headline))}", soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {escape(mask(hint))}", soft_wrap=True)
    if context.current().debug:
        sys.stderr.write(mask(traceback.format_exc()))


def _run(argv: list[str] | None, application: typer.Typer) -> int:
    command = typer.main.get_command(application)
    try:
        result = command.main(args=argv, prog_name="stagectl", standalone_mode=False)
    except StagectlError as exc:
        _report(exc.message, exc.hint)
        return int(exc.exit_code)
    except (*_ABORTS, KeyboardInterrupt):
        return 128 + int(signal.SIGINT)
    except _EXITS as exc:
        return int(exc.exit_code)
    except _CLICK_ERRORS as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except Exception as exc:  # the boundary: no raw traceback (and no locals) without --debug
        hint = None if context.current().debug else "rerun with --debug for the traceback"
        _report(f"internal error: {type(exc).__name__}: {exc}", hint)
        return INTERNAL_ERROR
    return int(result or 0)


def _exit_code(argv: list[str] | None, application: typer.Typer) -> int:
    code = _run(argv, application)
    signum = context.current().interrupted_by
    if signum:  # interrupted: 128 + N whatever the command made of it (DESIGN.md exit codes)
        err_console().print(f"[red]interrupted[/] by signal {signum}")
        return 128 + signum
    return code


def main(argv: list[str] | None = None, *, application: typer.Typer | None = None) -> None:
    """Entry point of the `stagectl` command: run the app inside the error boundary and exit.

    `application` defaults to `app` (tests pass an app built with `build_app`)."""
    context.reset()  # masks secrets from the process env even before the callback runs
    previous: dict[int, object] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed
            previous[signum] = signal.signal(signum, _raise_interrupted)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass
    try:
        code = _exit_code(argv, application or app)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.exit(code)
