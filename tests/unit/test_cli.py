"""The CLI boundary: exit codes, global options, signals, init/config, and no secret in any output."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer

from stagectl import cli, context
from stagectl.errors import ConfigError

COLOUR = re.compile(r"\x1b\[(?:\d+;)*3[0-8](?:;\d+)*m")  # an SGR foreground colour (bold/dim are not colour)
REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-0d1e2f3a4b5c"
SPEC = """\
version: 1
project: demo
services:
  db:
    runner: postgres
    port: ${DB_PORT:-5433}
    container_port: 5432
    healthcheck: {probe: postgres}
"""
EXAMPLE = "DB_PORT=5433\n# SECRET\nDB_PASSWORD=change-me-db\nAPI_TOKEN='change-me-token'\nPLAIN=keep\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "stagectl.yaml").write_text(SPEC)
    (tmp_path / ".env.staging.example").write_text(EXAMPLE)
    (tmp_path / ".env.staging").write_text(f"DB_PORT=6000\nDB_PASSWORD={CANARY}\n")
    for name in ("DB_PORT", "DB_PASSWORD", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str, application: typer.Typer | None = None) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv), application=application)
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


def test_python_m_stagectl_help_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "stagectl", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for option in ("--project-dir", "--env-file", "--set", "--no-color", "--debug", "--install-completion"):
        assert option in proc.stdout


def test_a_placeholder_command_exits_2(capsys) -> None:
    application = cli.build_app(("not_a_real_command_module",))
    code, _, err = run(capsys, "not_a_real_command_module", application=application)
    assert code == 2
    assert "not implemented yet" in err


def test_usage_error_exits_2(capsys, project) -> None:
    code, _, err = run(capsys, "--set", "not-a-key=1", "config")
    assert code == 2 and "--set" in err


def _app_with(command) -> typer.Typer:
    application = cli.build_app(())
    application.command("probe")(command)
    return application


def test_config_error_is_one_red_line_and_hint(capsys, project) -> None:
    (project / ".env.staging").unlink()
    code, out, err = run(capsys, "config")
    assert code == 2 and out == ""
    assert err.splitlines() == ["error: .env.staging: env file not found",
                                "hint: run `stagectl init` to create it from the example with fresh secrets"]


def test_internal_error_exits_70_without_traceback_unless_debug(capsys, project) -> None:
    def probe() -> None:
        raise RuntimeError("boom")

    code, _, err = run(capsys, "probe", application=_app_with(probe))
    assert code == cli.INTERNAL_ERROR and "Traceback" not in err and "boom" in err
    code, _, err = run(capsys, "--debug", "probe", application=_app_with(probe))
    assert code == cli.INTERNAL_ERROR and "Traceback" in err


@pytest.mark.parametrize(("signum", "expected"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_exit_128_plus_n(capsys, project, signum: int, expected: int) -> None:
    def probe() -> int:
        os.kill(os.getpid(), signum)
        for _ in range(100):  # the handler raises within a few bytecodes; bounded anyway
            pass
        return 0  # fault caught: a swallowed signal turning into exit 0

    code, _, err = run(capsys, "probe", application=_app_with(probe))
    assert code == expected
    assert signal.getsignal(signal.SIGTERM) is not cli._raise_interrupted  # handler restored


def test_sigterm_to_a_real_process_exits_143(tmp_path: Path) -> None:
    script = tmp_path / "sleepy.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from stagectl import cli
        app = cli.build_app(())
        @app.command("sleep")
        def sleep() -> int:
            print("ready", flush=True)
            time.sleep(30)
            return 0
        cli.main(["sleep"], application=app)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 143
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_init_creates_0600_file_with_fresh_secrets(capsys, project) -> None:
    (project / ".env.staging").unlink()
    code, out, _ = run(capsys, "init")
    assert code == 0
    path = project / ".env.staging"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    from stagectl.config.envfile import parse_env_file

    created = {v.name: v.value for v in parse_env_file(path)}
    example = {v.name: v.value for v in parse_env_file(project / ".env.staging.example")}
    assert set(created) == set(example)
    for name in ("DB_PASSWORD", "API_TOKEN"):
        assert created[name] != example[name] and len(created[name]) >= 32
        assert name in out and created[name] not in out  # names only, never values
    assert created["PLAIN"] == example["PLAIN"] and created["DB_PORT"] == example["DB_PORT"]
    assert "# SECRET" in path.read_text()  # comments kept

    before = path.read_text()
    code, _, err = run(capsys, "init")
    assert code == 2 and "already exists" in err and path.read_text() == before
    code, _, _ = run(capsys, "init", "--force")
    assert code == 0 and path.read_text() != before


def test_global_options_and_precedence_reach_get_project(capsys, project, monkeypatch, tmp_path_factory) -> None:
    other = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(other)
    (other / "alt.env").write_text("DB_PORT=6100\n")
    code, out, _ = run(capsys, "-C", str(project), "--env-file", str(other / "alt.env"), "config", "--json")
    assert code == 0 and '"port": 6100' in out
    monkeypatch.setenv("DB_PORT", "6200")
    code, out, _ = run(capsys, "-C", str(project), "--set", "DB_PORT=6300", "config", "--json", "--sources")
    assert code == 0 and '"port": 6300' in out and '"source": "cli"' in out


def test_config_sources_show_file_line_and_default(capsys, project) -> None:
    code, out, _ = run(capsys, "config", "--sources")
    assert code == 0
    rows = {}
    for line in out.splitlines():
        source, assignment = re.split(r"\s{2,}", line, maxsplit=1)
        key, _, value = assignment.partition("=")
        rows[key] = (value, source)
    assert rows["services.db.port"] == ("6000", "stagectl.yaml:6 via DB_PORT=.env.staging:1")
    assert rows["services.db.restart"] == ("unless-stopped", "default")
    assert rows["DB_PORT"] == ("6000", ".env.staging:1")
    assert rows["DB_PASSWORD"] == ("****", ".env.staging:2")


def test_no_color_option_and_env(capsys, project, monkeypatch) -> None:
    (project / ".env.staging").unlink()
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, _, coloured = run(capsys, "config")
    assert COLOUR.search(coloured)  # fault caught: the checks below passing only because colour never happens
    _, _, plain = run(capsys, "--no-color", "config")
    assert not COLOUR.search(plain)
    monkeypatch.delenv("NO_COLOR")  # --no-color sets it for the process; start clean again
    monkeypatch.setenv("NO_COLOR", "1")
    _, _, plain = run(capsys, "config")
    assert not COLOUR.search(plain)


def test_canary_secret_never_appears_in_any_output(capsys, project) -> None:
    """Config output, a config error that echoes the value, an internal error and --debug tracebacks."""
    outputs = []
    for argv in (["config"], ["config", "--sources"], ["config", "--json", "--sources"]):
        outputs.append(run(capsys, *argv))

    def leaky() -> None:
        password = context.get_project().env["DB_PASSWORD"]
        raise RuntimeError(f"could not connect with password {password}")

    def leaky_config() -> None:
        raise ConfigError(f"bad value {CANARY}", hint=f"hint {CANARY}")

    outputs.append(run(capsys, "--debug", "probe", application=_app_with(leaky)))
    outputs.append(run(capsys, "probe", application=_app_with(leaky_config)))  # project never loaded
    (project / "stagectl.yaml").write_text(SPEC.replace("container_port: 5432", "container_port: ${DB_PASSWORD}"))
    outputs.append(run(capsys, "--debug", "config"))
    codes = [code for code, _, _ in outputs]
    assert codes == [0, 0, 0, 70, 2, 2]
    assert "****" in outputs[3][2] and "****" in outputs[5][2]  # the error text was there, masked
    for _, out, err in outputs:
        assert CANARY not in out and CANARY not in err


def test_shell_completion_still_answers() -> None:
    env = {**os.environ, "_STAGECTL_COMPLETE": "complete_bash", "COMP_WORDS": "stagectl co", "COMP_CWORD": "1"}
    proc = subprocess.run([sys.executable, "-m", "stagectl"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["config"]


def test_a_command_module_that_fails_to_import_is_reported_not_fatal(capsys, monkeypatch) -> None:
    import importlib

    real = importlib.import_module

    def fake_import(name: str, *args):
        if name == "stagectl.commands.config":
            raise ImportError("cannot import name 'x'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    application = cli.build_app(("config", "init"))
    code, _, err = run(capsys, "config", application=application)
    assert code == cli.INTERNAL_ERROR and "cannot be loaded: ImportError" in err
    code, out, _ = run(capsys, "init", "--help", application=application)
    assert code == 0 and "--force" in out
