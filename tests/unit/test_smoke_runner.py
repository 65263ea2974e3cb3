"""The smoke runner (stagectl/smoke/runner.py) on tiny throwaway suites, and the `stagectl smoke` command's
boundary: outcomes mapped honestly, ids stable, secrets masked, hangs killed, exit codes."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from stagectl import cli
from stagectl.results import CheckResult
from stagectl.smoke.runner import SmokeResult, SmokeTarget, run_smoke

CANARY = "canary-smoke-7f3e9a1b"
MIXED = '''
import os
import pytest

class TestThings:
    def test_passes(self):
        assert os.environ["STAGECTL_TARGET_URL"] == "http://127.0.0.1:1"
        assert os.environ["STAGECTL_DASHBOARD_LOG"].endswith("dash.json.log")

    def test_fails_with_secret(self):
        assert os.environ["DASHBOARD_API_KEY"] == "something else"

    def test_skips(self):
        pytest.skip("no log file given")

    @pytest.fixture
    def broken(self):
        raise RuntimeError("fixture broke")

    def test_errors(self, broken):
        pass
'''


def suite(tmp_path: Path, body: str) -> Path:
    directory = tmp_path / "suite"
    directory.mkdir()
    if body:
        (directory / "test_fake.py").write_text(textwrap.dedent(body))
    return directory


def target() -> SmokeTarget:
    return SmokeTarget("http://127.0.0.1:1", {"DASHBOARD_API_KEY": CANARY}, Path("/tmp/dash.json.log"))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> SmokeResult:
    return run_smoke(target(), suite_dir=suite(tmp_path_factory.mktemp("mixed"), MIXED), timeout_s=120)


def test_outcomes_are_mapped_and_ids_stable(mixed):
    result = mixed
    statuses = {r.id: r.status for r in result.results}
    assert statuses == {"smoke.TestThings.test_passes": "pass", "smoke.TestThings.test_fails_with_secret": "fail",
                        "smoke.TestThings.test_skips": "skip", "smoke.TestThings.test_errors": "error"}
    assert {r.section for r in result.results} == {"Things"}
    skipped = next(r for r in result.results if r.status == "skip")
    assert "no log file given" in skipped.message
    assert result.pytest_exit == 1 and result.outcome == "failed" and not result.ok


def test_secrets_masked_everywhere(mixed):
    result = mixed
    text = json.dumps(result.to_dict()) + result.output_tail
    assert CANARY not in text
    failed = next(r for r in result.results if r.status == "fail")
    assert "****" in (failed.message + (failed.evidence or ""))


def test_all_passing_is_ok(tmp_path):
    result = run_smoke(target(), suite_dir=suite(tmp_path, "def test_one():\n    assert True\n"), timeout_s=120)
    assert result.ok and result.outcome == "passed" and [r.status for r in result.results] == ["pass"]


def test_nothing_collected_is_a_failure(tmp_path):
    result = run_smoke(target(), suite_dir=suite(tmp_path, ""), timeout_s=120)
    assert not result.ok and result.outcome == "no_tests_collected"
    assert [(r.id, r.status) for r in result.results] == [("smoke.suite.outcome", "error")]


def test_deselecting_everything_is_a_failure(tmp_path):
    result = run_smoke(target(), suite_dir=suite(tmp_path, "def test_one():\n    pass\n"), select="nomatch", timeout_s=120)
    assert not result.ok and result.outcome == "no_tests_collected"


def test_hung_suite_is_killed_at_the_timeout(tmp_path):
    body = "import time\n\ndef test_hangs():\n    time.sleep(120)\n"
    started = time.monotonic()
    result = run_smoke(target(), suite_dir=suite(tmp_path, body), timeout_s=4)
    assert time.monotonic() - started < 30
    assert result.outcome == "timeout" and not result.ok
    assert [(r.id, r.status) for r in result.results] == [("smoke.suite.timeout", "error")]


# --- the command -------------------------------------------------------------------------------
SPEC = """\
version: 1
project: smoketest
services:
  dashboard:
    runner: dashboard
    port: ${DASHBOARD_PORT:-8080}
    container_port: 8080
    healthcheck: {probe: http, path: /health/live}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "stagectl.yaml").write_text(SPEC)
    (tmp_path / ".env.staging.example").write_text("DASHBOARD_PORT=8080\nDASHBOARD_API_KEY=x\n")
    (tmp_path / ".env.staging").write_text(f"DASHBOARD_PORT=1\nDASHBOARD_API_KEY={CANARY}\n")
    monkeypatch.delenv("DASHBOARD_API_KEY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv), application=cli.build_app(("smoke",)))
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


def test_no_running_stack_exits_4(project, capsys):
    code, out, err = run_cli(capsys, "smoke")
    assert code == 4 and "no stack is running" in out + err


def fake_run(results, exit_code=0):
    def run(target, *, select=None, timeout_s=600.0):
        fake_run.seen = (target, select, timeout_s)
        return SmokeResult(results, exit_code, "passed" if exit_code == 0 else "failed", 1.5, f"tail {CANARY}")
    return run


def test_json_junit_and_exit_codes(project, capsys, monkeypatch, tmp_path):
    from stagectl.smoke import runner

    passing = [CheckResult("smoke.TestA.test_x", "A", "pass", "passed")]
    monkeypatch.setattr(runner, "run_smoke", fake_run(passing))
    junit = tmp_path / "out" / "smoke.xml"
    code, out, _ = run_cli(capsys, "smoke", "--target", "http://127.0.0.1:9/", "-k", "A", "--timeout", "30",
                           "--json", "--junit", str(junit))
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"checks", "summary", "duration_s"} and doc["summary"]["passed"] == 1
    assert 'name="smoke.TestA.test_x"' in junit.read_text()
    target, select, timeout = fake_run.seen
    assert (target.url, select, timeout, target.dashboard_log) == ("http://127.0.0.1:9", "A", 30.0, None)

    failing = [CheckResult("smoke.TestA.test_y", "A", "fail", f"bad {CANARY}")]
    monkeypatch.setattr(runner, "run_smoke", fake_run(failing, exit_code=1))
    code, out, err = run_cli(capsys, "smoke", "--target", "http://127.0.0.1:9")
    assert code == 1 and "TestA.test_y" in out
    assert CANARY not in out + err


def test_api_key_env_is_passed_by_name(project, capsys, monkeypatch):
    from stagectl.smoke import runner

    monkeypatch.setenv("MY_STAGING_KEY", "other-key-5c4b3a29")
    monkeypatch.setattr(runner, "run_smoke", fake_run([CheckResult("smoke.T.t", "T", "pass", "passed")]))
    code, out, err = run_cli(capsys, "smoke", "--target", "http://127.0.0.1:9", "--api-key-env", "MY_STAGING_KEY")
    target = fake_run.seen[0]
    assert code == 0
    assert target.env["STAGECTL_API_KEY_ENV"] == "MY_STAGING_KEY" and target.env["MY_STAGING_KEY"] == "other-key-5c4b3a29"
    code, _, err = run_cli(capsys, "smoke", "--target", "http://127.0.0.1:9", "--api-key-env", "UNSET_KEY_VAR_X")
    assert code == 2 and "UNSET_KEY_VAR_X" in err + _


def test_the_default_suite_is_the_repos_smoke_suite():
    from stagectl.smoke.runner import SMOKE_DIR

    assert Path(__file__).resolve().parents[2] / "checks" / "smoke" == SMOKE_DIR
    assert (SMOKE_DIR / "conftest.py").is_file()
