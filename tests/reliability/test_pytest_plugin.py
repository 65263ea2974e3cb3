"""The pytest plugin (entry point pytest11 `stagectl`) in a real pytest subprocess against a real
stack of fake services: it brings the stack up and down, or attaches to a running one and leaves
it running; its endpoints answer; credentials are there but never in a failure's output."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

from tests.reliability.conftest import REPO

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(120)]

USER_TEST = '''
import httpx

def test_the_stack_answers(stagectl_stack):
    assert set(stagectl_stack.endpoints) == {"a", "b"}
    assert httpx.get(stagectl_stack.url("b", "/health"), timeout=5).text == "ok"
    assert stagectl_stack.env["API_TOKEN"] == "sk-canary-123"
    print("ATTACHED" if stagectl_stack.attached else "STARTED")

def test_a_failure_shows_no_secret(stagectl_stack):
    assert stagectl_stack.attached == "never", stagectl_stack
'''


def _pytest(project) -> subprocess.CompletedProcess:
    (project.dir / "test_user.py").write_text(USER_TEST, encoding="utf-8")
    # the plugin by module name, and its entry point (when an installed stagectl declares it) blocked,
    # so the run is the same whether or not this checkout is pip-installed
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:stagectl", "-p", "stagectl.pytest_plugin", "-s", "-q",
                           "-p", "no:cacheprovider", "--rootdir", str(project.dir), "-c", "/dev/null",
                           f"--stagectl-dir={project.dir}", "--stagectl-wait=30", str(project.dir / "test_user.py")],
                          cwd=project.dir, env=project.env(), capture_output=True, text=True, timeout=100)


def _states(project) -> list[str]:
    return [s["state"] for s in json.loads(project.run("status", "--json").out)["services"]]


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["entry-points"]["pytest11"] == {"stagectl": "stagectl.pytest_plugin"}


def test_the_fixture_brings_the_stack_up_and_down(project):
    project.write({"a": project.service("a"), "b": project.service("b", depends_on=["a"])})
    done = _pytest(project)
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    assert "STARTED" in done.stdout
    assert "sk-canary-123" not in done.stdout + done.stderr  # the failing test printed the fixture's repr
    assert "StagingStack(" in done.stdout
    assert not (project.state_dir / "state.json").exists()  # torn down
    assert _states(project) == ["stopped", "stopped"]


def test_the_fixture_attaches_to_a_running_stack_and_leaves_it_up(project):
    project.write({"a": project.service("a"), "b": project.service("b", depends_on=["a"])})
    assert project.run("up", "--wait-timeout", "20").code == 0
    pids = (project.pid("a"), project.pid("b"))
    done = _pytest(project)
    assert "1 failed, 1 passed" in done.stdout and "ATTACHED" in done.stdout, done.stdout + done.stderr
    assert (project.pid("a"), project.pid("b")) == pids
    assert _states(project) == ["healthy", "healthy"]  # still up
    assert project.run("down").code == 0


def test_a_stack_that_cannot_start_fails_the_fixture_clearly(project):
    project.write({"a": project.service("a", "--exit-after", "0", "--code", "3"), "b": project.service("b")})
    done = _pytest(project)
    assert "stagectl: " in done.stdout and "a: crashed (exit 3)" in done.stdout, done.stdout + done.stderr
    assert "2 errors" in done.stdout
