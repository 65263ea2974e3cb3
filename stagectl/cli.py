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
from typing import TYPE_CHECKING, Any, Optional

import typer
from typer.core import TyperGroup

from stagectl import context
from stagectl.errors import ExitCode, Interrupted, StagectlError

if TYPE_CHECKING:
    from rich.console import Console
    from typer import _click as click

COMMANDS = (
    "init", "config", "render", "validate", "build", "up", "status", "logs", "down",
    "smoke", "fuzz", "chaos", "bench", "soak", "report", "run", "restart", "stop", "start", "exec", "ps",
)
# compose-style names for a command of another module: `ps` is `status`
ALIASES = {"ps": "status"}
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in stagectl, not in the user's input
_SET_ITEM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


def _real_click(name: str) -> tuple[type[BaseException], ...]:
    """`click.exceptions.<name>` when the real click is loaded, else nothing. Looked up, not
    imported (~20 ms at start-up): nothing can raise its exceptions before something imported it."""
    module = sys.modules.get("click.exceptions")
    return (getattr(module, name),) if module is not None else ()


def _click_errors() -> tuple[type[BaseException], ...]:
    # typer >= 0.2x vendors its own copy of click; commands may raise either family
    try:
        from typer._click.exceptions import ClickException as vendored
    except ImportError:  # pragma: no cover - older typer uses click itself (then it is loaded)
        return _real_click("ClickException")
    return (vendored, *_real_click("ClickException"))


def _aborts() -> tuple[type[BaseException], ...]:
    return (*_real_click("Abort"), typer.Abort, KeyboardInterrupt)


def _exits() -> tuple[type[BaseException], ...]:
    return (*_real_click("Exit"), typer.Exit)


def err_console() -> Console:
    from rich.console import Console  # rich costs ~30 ms; only errors and interruptions print here

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


def _print_version(show: bool) -> None:
    if show:
        from stagectl import __version__

        print(f"stagectl {__version__}")
        raise typer.Exit(0)


def _root(
    project_dir: Optional[Path] = typer.Option(
        None, "--project-dir", "-C", help="Project directory (holding stagectl.yaml); default: search upwards from cwd.",
        file_okay=False,
    ),
    env_file: Optional[Path] = typer.Option(None, "--env-file", help="Env file to use instead of the spec's env_file."),
    sets: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Override a variable (repeatable; wins over env and file)."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours (also when NO_COLOR is set)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks (never with local variables)."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print stagectl's version and exit."),
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


def _noop() -> None:
    """Callback of the holder app: makes typer build a group, so each command converts alone."""


def _load_commands(name: str) -> dict[str, click.Command]:
    """The click commands of `stagectl/commands/<name>.py` (or its placeholder / broken stand-in);
    an alias registers its target's command under its own name."""
    holder = typer.Typer(add_completion=False)
    holder.callback()(_noop)
    module_name = f"stagectl.commands.{ALIASES.get(name, name)}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            holder.command(name=name, help=f"(broken: {type(exc).__name__}) {name}")(_broken(name, exc))
        else:
            holder.command(name=name, help=f"(not implemented yet) {name}")(_placeholder(name))
    except Exception as exc:  # one broken command must not take the whole CLI (and its boundary) down
        holder.command(name=name, help=f"(broken: {type(exc).__name__}) {name}")(_broken(name, exc))
    else:
        if name in ALIASES:
            module.register(holder, name=name)
        else:
            module.register(holder)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)  # the holder has a callback: typer builds a group
    return dict(group.commands)


class _LazyCommands(TyperGroup):
    """The root group; each command module is imported only when its command is resolved.

    `stagectl up` imports `stagectl.commands.up` and nothing of the other twelve (their
    dependencies — report rendering, jinja2, httpx — cost ~0.3 s before anything started).
    Listing the commands (--help, completion, did-you-mean) loads them all, in `lazy_names` order.
    """

    lazy_names: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending = [name for name in self.lazy_names if name not in self.commands]

    def _load(self, name: str) -> None:
        if name in self._pending:
            self._pending.remove(name)
            for command_name, command in _load_commands(name).items():
                self.commands.setdefault(command_name, command)  # commands added to the app itself win

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for name in list(self._pending):
            self._load(name)
        first = [name for name in self.lazy_names if name in self.commands]
        return first + [name for name in self.commands if name not in first]


def build_app(commands: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """A Typer app with the global options and `commands` (placeholders for missing modules).

    The command modules are imported when a command is resolved, not here (see _LazyCommands)."""
    application = typer.Typer(
        name="stagectl",
        help="Take a service stack into staging and prove it works.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=True,
        cls=type("StagectlCommands", (_LazyCommands,), {"lazy_names": tuple(commands)}),
    )
    application.callback()(_root)
    return application


app = build_app()


def _raise_interrupted(signum: int, _frame: object) -> None:
    # remembered as well as raised: typer turns any KeyboardInterrupt into "exit 130"
    context.current().interrupted_by = signum
    raise Interrupted(signum)


def _report(headline: str, hint: str | None) -> None:
    """One red line and an optional dim hint on stderr, secrets masked, no markup injection."""
    from rich.markup import escape

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
    except _aborts():
        return 128 + int(signal.SIGINT)
    except _exits() as exc:
        return int(exc.exit_code)  # type: ignore[attr-defined]  # click's and typer's Exit both carry it
    except _click_errors() as exc:
        exc.show()  # type: ignore[attr-defined]  # every ClickException can show itself
        return int(ExitCode.USAGE)
    except Exception as exc:  # the boundary: no raw traceback (and no locals) without --debug
        hint = None if context.current().debug else "rerun with --debug for the traceback"
        _report(f"internal error: {type(exc).__name__}: {exc}", hint)
        return INTERNAL_ERROR
    return int(result or 0)


def _exit_code(argv: list[str] | None, application: typer.Typer) -> int:
    code = _run(argv, application)
    signum = context.current().interrupted_by
    if signum:  # interrupted: 128 + N whatever the command made of it (docs/exit-codes.md)
        err_console().print(f"[red]interrupted[/] by signal {signum}")
        return 128 + signum
    return code


def main(argv: list[str] | None = None, *, application: typer.Typer | None = None) -> None:
    """Entry point of the `stagectl` command: run the app inside the error boundary and exit.

    `application` defaults to `app` (tests pass an app built with `build_app`)."""
    context.reset()  # masks secrets from the process env even before the callback runs
    previous: dict[signal.Signals, Any] = {}
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
