"""The CI templates in docs/ci/ (GitHub Actions, GitLab CI): they parse, every command they run
exists (stagectl subcommands and options through the real CLI parser, scripts in the repo), and
the files they publish are the ones `stagectl run --out DIR` writes."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
import yaml

from stagectl.cli import build_app
from stagectl.report.render import HTML_NAME, JUNIT_NAME

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "docs" / "ci"


def _github_commands(doc: dict) -> list[str]:
    return [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]


def _gitlab_commands(doc: dict) -> list[str]:
    return [line for job in doc.values() if isinstance(job, dict) and "script" in job for line in job["script"]]


def _check_command(line: str) -> str | None:
    """Problems of one shell line; returns the --out dir of a `stagectl run`, if any."""
    words = shlex.split(line)
    while words and (words[0] == "sudo" or words[0].startswith("--preserve-env")):
        words.pop(0)
    if words[:2] == ["bash", words[1] if len(words) > 1 else ""] and words[1].endswith(".sh"):
        assert (REPO / words[1]).is_file(), f"{line}: {words[1]} is not in the repository"
        return None
    assert words[:3] == ["python", "-m", "stagectl"], f"unexpected command in a CI template: {line}"
    args = words[3:]
    command = typer.main.get_command(build_app())
    ctx = command.make_context("stagectl", list(args), resilient_parsing=False)  # unknown options raise here
    assert args and not args[0].startswith("-"), f"{line}: the templates put no global option before the command"
    sub_name, rest = args[0], args[1:]
    sub = command.get_command(ctx, sub_name)
    assert sub is not None, f"{line}: no command {sub_name!r}"
    sub_ctx = sub.make_context(sub_name, list(rest), parent=ctx)
    return str(sub_ctx.params.get("out")) if sub_name == "run" else None


@pytest.mark.parametrize(("name", "commands", "published"), [
    ("github-actions.yml", _github_commands,
     lambda d: [s["with"] for j in d["jobs"].values() for s in j["steps"] if "with" in s]),
    ("gitlab-ci.yml", _gitlab_commands, lambda d: [j["artifacts"] for j in d.values() if isinstance(j, dict) and "artifacts" in j]),
])
def test_ci_template_runs_existing_commands_and_publishes_the_run_report(name, commands, published):
    doc = yaml.safe_load((CI / name).read_text(encoding="utf-8"))
    lines = commands(doc)
    outs = [out for line in lines if (out := _check_command(line)) is not None]
    assert len(outs) == 1, f"{name}: exactly one `stagectl run` expected, got {lines}"
    out = outs[0]
    text = yaml.safe_dump(published(doc))
    assert f"{out}/{JUNIT_NAME}" in text, f"{name}: the JUnit file {out}/{JUNIT_NAME} is not published"
    assert f"{out}/" in text.replace(f"{out}/{JUNIT_NAME}", ""), f"{name}: the report dir ({HTML_NAME} …) is not kept"


def test_a_template_naming_a_missing_command_or_option_fails(tmp_path):
    """The checker itself can fail: an unknown subcommand, an unknown option, a missing script."""
    try:  # typer >= 0.2x vendors click
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover
        from click import exceptions as click_errors  # type: ignore[no-redef]

    with pytest.raises(AssertionError, match="no command 'deploy'"):
        _check_command("python -m stagectl deploy --everything")
    with pytest.raises(click_errors.BadParameter, match="sometimes"):
        _check_command("python -m stagectl run --chaos sometimes")
    with pytest.raises(click_errors.NoSuchOption):
        _check_command("python -m stagectl run --upload-to-s3")
    with pytest.raises(AssertionError):
        _check_command("bash scripts/no-such-script.sh")
