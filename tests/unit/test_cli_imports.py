"""Start-up cost of the CLI: what `import stagectl.cli` and registering the commands may import.

`stagectl up` has to reach LocalBackend.up quickly on a 2-core box; every module imported before
that is paid on every invocation. These tests run in a fresh interpreter (sys.modules of the test
process is already full) and name the module that came back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stagectl import cli

REPO = Path(__file__).resolve().parents[2]

# What registering a command used to drag in (measured with -X importtime): report rendering and
# its charts/templates (jinja2), the render engine (jinja2), the report model and the config model
# (pydantic), httpx (via stagectl.versions), yaml, the static checks, and service clients.
HEAVY = (
    "jinja2", "httpx", "pydantic", "yaml", "psutil", "boto3", "psycopg", "redis",
    "stagectl.report.render", "stagectl.report.model", "stagectl.report.store", "stagectl.render",
    "stagectl.render.engine", "stagectl.versions", "stagectl.checking", "stagectl.validate", "stagectl.config.loader",
    "stagectl.config.model", "stagectl.smoke", "stagectl.report.junit",
)
OWN_COMMANDS = cli.COMMANDS


def _loaded_after(code: str) -> dict:
    """Run `code` in a fresh interpreter; it leaves its findings in `result` (printed as JSON)."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(result))\n"
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return sorted(name for name in modules if name in HEAVY)


def test_import_and_build_app_load_nothing_heavy() -> None:
    result = _loaded_after("""
        import sys, typer
        from stagectl import cli
        typer.main.get_command(cli.build_app())
        result = sorted(sys.modules)
    """)
    assert _heavy(result) == []
    # rich (~30 ms) and the real click (~20 ms) are not needed until something is printed
    assert [m for m in result if m in ("rich", "rich.console", "click")] == []
    assert [m for m in result if m.startswith("stagectl.commands.")] == []


@pytest.mark.parametrize("name", OWN_COMMANDS)
def test_registering_a_command_loads_nothing_heavy(name: str) -> None:
    result = _loaded_after(f"""
        import sys, typer
        from stagectl import cli
        group = typer.main.get_command(cli.build_app())
        command = group.get_command(None, {name!r})
        result = {{"help": command.help, "modules": sorted(sys.modules)}}
    """)
    assert "not implemented" not in result["help"] and "broken" not in result["help"]
    assert _heavy(result["modules"]) == []


def test_resolving_one_command_imports_only_its_module() -> None:
    result = _loaded_after("""
        import sys, typer
        from stagectl import cli
        group = typer.main.get_command(cli.build_app())
        group.get_command(None, "status")
        result = sorted(m for m in sys.modules if m.startswith("stagectl.commands."))
    """)
    # its own module and the option declarations the commands share; nothing else of the thirteen
    assert result == ["stagectl.commands.options", "stagectl.commands.status"]


def test_listing_loads_every_command_in_order() -> None:
    result = _loaded_after("""
        import typer
        from stagectl import cli
        application = cli.build_app(cli.COMMANDS + ("not_a_real_command_module",))
        application.command("extra")(lambda: 0)
        group = typer.main.get_command(application)
        result = group.list_commands(None)
    """)
    assert result == [*cli.COMMANDS, "not_a_real_command_module", "extra"]


class _FailingImports:
    """A meta path finder that makes the import of chosen command modules fail."""

    def __init__(self, failures: dict[str, BaseException]):
        self.failures = failures

    def find_spec(self, name, path=None, target=None):
        if name in self.failures:
            raise self.failures[name]
        return None


def test_placeholder_and_broken_commands_still_show_and_exit(capsys, monkeypatch) -> None:
    failures = {
        "stagectl.commands.xdep": ModuleNotFoundError("No module named 'nodep'", name="nodep"),
        "stagectl.commands.xbad": ValueError("bad module"),
    }
    monkeypatch.setattr(sys, "meta_path", [_FailingImports(failures), *sys.meta_path])
    application = cli.build_app(("xmissing", "xdep", "xbad"))
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"], application=application)
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "(not implemented yet) xmissing" in out
    assert "(broken: ModuleNotFoundError) xdep" in out and "(broken: ValueError) xbad" in out
    for argv, code, text in ((["xmissing"], 2, "not implemented yet"), (["xdep"], cli.INTERNAL_ERROR, "nodep"),
                             (["xbad"], cli.INTERNAL_ERROR, "bad module")):
        with pytest.raises(SystemExit) as info:
            cli.main(argv, application=cli.build_app(("xmissing", "xdep", "xbad")))
        assert (info.value.code, text in capsys.readouterr().err) == (code, True), argv
