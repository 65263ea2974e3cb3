"""Pure parts of the fuzz and soak phases: the curl line, the stack-state verdict, the soak's
windows and stability rule, and both phases in the report model and its Markdown view."""

from __future__ import annotations

import datetime as dt
import types

import requests

from stagectl.fuzz.client import curl_command
from stagectl.fuzz.stackstate import StackState, state_problems
from stagectl.report.build import report_from_pipeline
from stagectl.report.markdown import render_markdown
from stagectl.report.model import FuzzFailure, FuzzPhase, SoakPhase, SoakWindow
from stagectl.results import CheckResult
from stagectl.soak.load import Sample, stability, windows

KEY = "k-7d1f0c6a2b"


def _prepared(body=None, url="http://127.0.0.1:8080/api/inventory?limit=%00") -> requests.PreparedRequest:
    return requests.Request("POST", url, headers={"X-API-Key": KEY, "Content-Type": "application/json"}, data=body).prepare()


def test_curl_names_the_key_variable_never_its_value():
    line = curl_command(_prepared(b'{"sku": "a b"}'))
    assert KEY not in line and '"X-API-Key: $DASHBOARD_API_KEY"' in line
    assert "--data-binary '{\"sku\": \"a b\"}'" in line and line.endswith("'http://127.0.0.1:8080/api/inventory?limit=%00'")


def test_curl_sends_unprintable_bodies_exactly_through_base64():
    line = curl_command(_prepared(b"\x00\xff\n"))
    assert line.startswith("printf %s AP8K | base64 -d | curl") and "--data-binary @-" in line


def _state(level="OPTIMAL", breakers=None, failures=None, transitions=0.0) -> StackState:
    return StackState(level, breakers or {"database": "closed"}, failures or {"database": 0.0}, transitions)


def test_stack_state_clean_when_nothing_changed():
    assert state_problems(_state(failures={"database": 3.0}), _state(failures={"database": 3.0})) == []


def test_stack_state_names_each_kind_of_damage():
    after = _state("MINIMAL", {"database": "open"}, {"database": 5.0}, transitions=1.0)
    problems = state_problems(_state(), after)
    assert problems == ["level MINIMAL afterwards (was OPTIMAL)", "breaker not closed: database open",
                        "breaker failures counted: database +5", "1 breaker transitions"]


def test_soak_windows_bucket_by_due_time_and_count_errors():
    samples = [Sample(0.1, 10.0, "health"), Sample(0.2, None, "health", "http_500"), Sample(1.5, 30.0, "health"),
               Sample(1.9, 50.0, "health")]
    rows = windows(samples, 1.0, 2.0)
    assert [(r["n"], r["errors"], r["p99_ms"]) for r in rows] == [(2, 1, 10.0), (2, 0, 49.8)]  # 30 + 0.99 × 20


def test_stability_rule():
    assert stability(10.0, 20.0, 5.0)[0] and not stability(10.0, 20.1, 5.0)[0]
    assert stability(1.0, 9.9, 5.0)[0] and not stability(1.0, 10.1, 5.0)[0]  # the floor, not 2 × 1 ms
    assert stability(None, 1.0, 5.0) == (False, "no successful request in the first or the last window")


def _record(name, result):
    return types.SimpleNamespace(name=name, status=result.status, reason=result.reason, duration_s=1.0, result=result)


def test_both_phases_reach_the_report_and_its_markdown():
    fail = CheckResult("fuzz.answers", "fuzz", "fail", "1 of 9 answers failed")
    fuzz = FuzzPhase(status="failed", reason="fuzz.answers", command="stagectl fuzz --seed 1", checks=[fail], requests=9,
                     per_route={"GET /api/inventory": 9}, statuses={"500": 1, "200": 8}, seed=1,
                     failures=[FuzzFailure(method="GET", path="/api/inventory", url="http://x/api/inventory?limit=a",
                                           mode="negative", status=500, problems=["status 500"], curl="curl -X GET 'http://x'")])
    soak = SoakPhase(status="passed", command="stagectl soak", requests=40, rate_rps=20, achieved_rps=20.0,
                     windows=[SoakWindow(t_s=0, n=20, errors=0, p50_ms=3.0, p99_ms=9.0)], stability_rule="rule",
                     rss_start_mb=100.0, rss_end_mb=101.0, fds_start=12, fds_end=12,
                     checks=[CheckResult("soak.errors", "soak", "pass", "no error")])
    now = dt.datetime.now(dt.timezone.utc)
    report = report_from_pipeline([_record("fuzz", fuzz), _record("soak", soak)], run_id="r", project="p", backend="local",
                                  started_at=now, finished_at=now, exit_code=1, outcome="FAILED")
    assert report.phases.fuzz == fuzz and report.phases.soak == soak
    assert [n for n, _ in report.phases.items()] == ["fuzz", "soak"]
    text = render_markdown(report)
    assert "9 requests over 1 operations" in text and "curl -X GET 'http://x'" in text
    assert "Dashboard RSS 100.0 → 101.0 MB, open file descriptors 12 → 12" in text
    assert report.summary()["failed"] == 1


def test_soak_resources_come_from_the_host_pid_either_backend_reports(monkeypatch):
    """Compose's status carries the container's host pid like local's carries the process's: both
    are measured; a backend with no pid, or a process this user may not read, is a reason."""
    import os

    import psutil

    from stagectl import stack
    from stagectl.soak import resources

    rows = {"local": [types.SimpleNamespace(name="dashboard", pid=os.getpid())],
            "compose": [types.SimpleNamespace(name="redis", pid=1), types.SimpleNamespace(name="dashboard", pid=os.getpid())]}

    class Fake:
        def __init__(self, name):
            self.name = name

        def status(self, **kwargs):
            assert kwargs == {"probe": False}, kwargs  # the pid only: no backend probes health for it
            return rows[self.name]

    monkeypatch.setattr(stack, "backend_for", lambda name, project: Fake(name))
    for backend in ("local", "compose"):
        pid, why = resources.dashboard_pid(None, backend)
        assert (pid, why) == (os.getpid(), None)
        use, why = resources.measure(pid, None)
        assert why is None and use.rss_mb > 0 and use.fds > 0
    rows["compose"] = [types.SimpleNamespace(name="dashboard", pid=None)]
    assert resources.dashboard_pid(None, "compose") == (None, "the compose backend reports no host pid for the dashboard")

    def denied(pid):
        raise psutil.AccessDenied(pid)
    monkeypatch.setattr(resources, "usage", denied)
    assert resources.measure(4242, None) == (None, "pid 4242 belongs to another user; its memory and open files need root to read")
    assert resources.measure(None, "a --target URL") == (None, "a --target URL")
