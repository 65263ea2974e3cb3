"""A stack stagectl did not start (`--url`): the URL and key rules, the report file it records to,
and a URL where nothing answers (exit 4 naming it). The suites against a live URL are in
tests/integration/test_remote_live.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket

import pytest

from stagectl import cli
from stagectl.errors import ConfigError, PreflightError
from stagectl.remote import check_url, remote_target, require_reachable
from stagectl.report.model import BenchPhase, SmokePhase
from stagectl.report.standalone import record_phase
from stagectl.report.store import read_report
from stagectl.results import CheckResult, not_applicable, summarize
from tests.unit.test_smoke_runner import project  # noqa: F401 - the fixture: a minimal project

KEY = "remote-key-8f7e6d5c4b3a"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv), application=cli.build_app(("smoke", "bench", "chaos")))
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("url", ["ftp://host", "host:8080", "http://", "http://user:pw@host", "http://h/?a=1",
                                 "http://h:99999"])
def test_bad_urls_are_refused(url):
    with pytest.raises(ConfigError):
        check_url(url)


def test_url_keeps_a_base_path_without_trailing_slash():
    assert check_url("https://stage.example.com/inventario/") == "https://stage.example.com/inventario"


def test_key_from_env_file_or_nowhere(tmp_path):
    assert remote_target("http://h", environ={"STAGECTL_API_KEY": KEY}).api_key == KEY
    assert remote_target("http://h", api_key_env="MINE", environ={"MINE": KEY}).api_key == KEY
    with pytest.raises(ConfigError, match=r"\$STAGECTL_API_KEY is not set"):
        remote_target("http://h", environ={"DASHBOARD_API_KEY": KEY})  # not the remote's variable
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    target = remote_target("http://h", api_key_file=key_file, environ={})
    assert (target.api_key, target.key_source) == (KEY, f"file {key_file}")
    assert KEY not in repr(target)
    key_file.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        remote_target("http://h", api_key_file=key_file, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        remote_target("http://h", api_key_file=tmp_path / "absent", environ={})


def test_nothing_listening_is_a_preflight_error_naming_the_url():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(PreflightError, match=f"nothing answers at {url}"):
        require_reachable(remote_target(url, environ={"STAGECTL_API_KEY": KEY}), timeout_s=3)


@pytest.mark.parametrize("command", ["smoke", "bench", "chaos"])
def test_cli_against_a_stopped_stack_exits_4_naming_the_url(project, capsys, monkeypatch, command):  # noqa: F811
    monkeypatch.setenv("STAGECTL_API_KEY", KEY)
    url = f"http://127.0.0.1:{_free_port()}"
    code, out, err = run_cli(capsys, command, "--url", url)
    assert code == 4, out + err
    assert f"nothing answers at {url}" in " ".join((out + err).split())
    assert KEY not in out + err


def test_cli_without_a_key_exits_2_and_never_takes_one_from_argv(project, capsys, monkeypatch):  # noqa: F811
    monkeypatch.delenv("STAGECTL_API_KEY", raising=False)
    code, out, err = run_cli(capsys, "smoke", "--url", "http://127.0.0.1:9")
    assert code == 2 and "STAGECTL_API_KEY" in out + err
    code, out, err = run_cli(capsys, "smoke", "--url", "http://127.0.0.1:9", "--api-key", KEY)
    assert code == 2 and "No such option" in out + err


def test_not_applicable_is_counted_apart_never_as_pass_or_skip():
    results = [CheckResult("a", "s", "pass", "passed"), CheckResult("b", "s", "skip", "no log file"),
               not_applicable("c", "s", "remote target (needs a direct connection to Redis)")]
    assert summarize(results) == {"passed": 1, "failed": 0, "skipped": 1, "errors": 0, "not_applicable": 1, "total": 3}


def _phase(status: str, kind: type[SmokePhase] | type[BenchPhase] = SmokePhase):
    check = CheckResult("smoke.T.t", "T", "pass" if status == "passed" else "fail", status)
    return kind(status=status, command="stagectl smoke --url http://h", started_at=dt.datetime.now(dt.timezone.utc),
                      checks=[check, not_applicable("smoke.T.n", "T", "remote target (needs x)")])


def test_report_file_records_phases_of_one_target_and_keeps_another_targets(tmp_path):
    path = tmp_path / "reports" / "remote.json"
    record_phase(path, "smoke", _phase("passed"), project="p", backend="remote", target="http://h")
    first = read_report(path)
    assert (first.target, first.outcome, first.exit_code) == ("http://h", "PASSED", 0)
    assert first.phases.smoke is not None and first.summary()["not_applicable"] == 1
    record_phase(path, "bench", _phase("failed", BenchPhase), project="p", backend="remote", target="http://h")
    both = read_report(path)
    assert (both.run_id, both.outcome, both.exit_code) == (first.run_id, "FAILED", 1)
    assert [s.name for s in both.steps] == ["smoke", "bench"]
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="http://h"):
        record_phase(path, "smoke", _phase("passed"), project="p", backend="remote", target="http://other")
    assert path.read_bytes() == before


def test_report_views_name_the_target_and_count_not_applicable(tmp_path):
    from stagectl.report.html import render_html
    from stagectl.report.markdown import render_markdown

    path = tmp_path / "remote.json"
    report = record_phase(path, "smoke", _phase("passed"), project="p", backend="remote",
                          target="https://stage.example.com")
    markdown = render_markdown(report)
    assert "https://stage.example.com (a stack stagectl did not start)" in markdown
    assert "1 not applicable" in markdown
    html = render_html(report)
    assert "<strong>https://stage.example.com</strong>" in html and "1 not applicable" in html
    assert os.path.exists(path)


def test_chaos_scenarios_needing_faults_are_not_applicable_and_the_baseline_decides():
    from stagectl.chaos import select_scenarios
    from stagectl.chaos.remote import not_applicable_scenario
    from stagectl.chaos.runner import ChaosRun, ScenarioResult
    from stagectl.chaos.scenarios import LevelTable
    from stagectl.config.loader import load_project
    from tests.unit.fixtures_checks.helpers import FIXTURE

    table = LevelTable.from_env(load_project(FIXTURE, use_process_env=False, allow_example=True).env)
    scenarios = select_scenarios("quick")
    skipped = [not_applicable_scenario(s, table) for s in scenarios]
    baseline = ScenarioResult("baseline", [], {}, "OPTIMAL", 100.0, status="pass", restored=True)
    run = ChaosRun([baseline, *skipped], [], 1.0, 1.0, final_healthy=True)
    assert run.ok and run.to_dict()["summary"]["not_applicable"] == len(scenarios)
    checks = run.check_results()
    assert summarize(checks)["not_applicable"] == len(scenarios) and summarize(checks)["skipped"] == 0
    assert all("service-level fault" in c.message for c in checks if c.not_applicable)
    broken = ChaosRun([dataclasses.replace(baseline, status="fail"), *skipped], [], 1.0, 1.0, final_healthy=False)
    assert not broken.ok
