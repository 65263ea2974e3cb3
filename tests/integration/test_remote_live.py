"""`smoke --url` and `bench --url` against a real local stack reached through its URL only, as they
would reach a stack stagectl did not start (a cluster behind a port-forward).

The key comes from $STAGECTL_API_KEY, never argv. Every test the suite marks `local_access` must
be reported not applicable, every other one must pass: the expected sets come from the suite's
own markers (a pytest collection), not from numbers written here. A URL where nothing listens is
in tests/unit/test_remote.py (exit 4 naming the URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stagectl.bench.stack import DIRECT_NEEDS, HTTP_TARGETS
from stagectl.smoke.runner import SMOKE_DIR
from tests.integration.test_smoke_live import REPO, stack  # noqa: F401 - the module's stack fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _collected(*marker: str) -> set[str]:
    """The suite's test ids as the smoke report names them (smoke.<Class>.<test>), optionally only
    those with `-m marker`."""
    argv = [sys.executable, "-m", "pytest", str(SMOKE_DIR), "--collect-only", "-q", "-p", "no:cacheprovider",
            "-o", "addopts=", "--rootdir", str(SMOKE_DIR), *(("-m", marker[0]) if marker else ())]
    env = {**os.environ, "STAGECTL_TARGET_URL": "http://collect.invalid"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ids = set()
    for line in done.stdout.splitlines():
        if "::" in line:
            _, cls, name = line.split("::", 2)
            ids.add(f"smoke.{cls}.{name}")
    assert ids, f"nothing collected:\n{done.stdout[-2000:]}"
    return ids


def _remote_cli(stack, *args: str, timeout: float) -> subprocess.CompletedProcess:  # noqa: F811
    """stagectl with the stack's configured values (env file, --set) and its key in $STAGECTL_API_KEY only."""
    sets = [a for k, v in stack.overrides.items() for a in ("--set", f"{k}={v}")]
    argv = [sys.executable, "-m", "stagectl", "--env-file", str(stack.env_file), *sets, *args]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO),
           "STAGECTL_API_KEY": stack.project().env["DASHBOARD_API_KEY"]}
    env.pop("DASHBOARD_API_KEY", None)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _url(stack) -> str:  # noqa: F811
    return f"http://127.0.0.1:{stack.overrides['DASHBOARD_PORT']}"


def test_smoke_url_passes_the_applicable_tests_and_reports_the_rest_not_applicable(stack):  # noqa: F811
    everything, local = _collected(), _collected("local_access")
    assert local < everything
    report_file = stack.tmp / "remote" / "report.json"
    done = _remote_cli(stack, "smoke", "--url", _url(stack), "--json", "--report", str(report_file),
                       "--timeout", "600", timeout=660)
    assert done.stdout.lstrip().startswith("{"), f"exit {done.returncode}, no JSON:\n{done.stderr[-2000:]}"
    doc = json.loads(done.stdout)
    by_status: dict[str, set[str]] = {}
    for check in doc["checks"]:
        kind = "n/a" if check["status"] == "skip" and check["message"].startswith("not applicable: remote target") else check["status"]
        by_status.setdefault(kind, set()).add(check["id"])
    bad = {c["id"]: c["message"][:300] for c in doc["checks"] if c["status"] in ("fail", "error")}
    assert done.returncode == 0, f"exit {done.returncode}: {bad}\n{done.stderr[-2000:]}"
    assert by_status.get("n/a") == local
    assert by_status.get("pass") == everything - local
    assert set(by_status) == {"pass", "n/a"}, {k: sorted(v)[:5] for k, v in by_status.items()}
    summary = doc["summary"]
    assert (summary["not_applicable"], summary["passed"], summary["total"]) == (len(local), len(everything - local), len(everything))
    assert doc["target"] == _url(stack) and doc["remote"] is True
    key = stack.project().env["DASHBOARD_API_KEY"]
    assert key not in done.stdout + done.stderr + report_file.read_text()

    report = json.loads(report_file.read_text())
    assert (report["target"], report["backend"], report["outcome"]) == (_url(stack), "remote", "PASSED")
    print(f"smoke --url: {summary} in {doc['duration_s']}s")


def test_bench_url_measures_the_dashboard_and_reports_direct_targets_not_applicable(stack):  # noqa: F811
    report_file = stack.tmp / "remote-bench" / "report.json"
    done = _remote_cli(stack, "bench", "--url", _url(stack), "--requests", "60", "--time-limit", "15",
                       "--json", "--report", str(report_file), timeout=400)
    assert done.stdout.lstrip().startswith("{"), f"exit {done.returncode}, no JSON:\n{done.stderr[-2000:]}"
    doc = json.loads(done.stdout)
    measured = {t["name"]: t for t in doc["targets"] if t["kind"] == "http"}
    assert set(measured) == set(HTTP_TARGETS)
    for name, target in measured.items():
        assert target["count"] > 0 and target["errors"] == 0, (name, target)
    assert {c["id"] for c in doc["not_applicable"]} == {f"bench.{name}" for name in DIRECT_NEEDS}
    assert all(c["message"].startswith("not applicable: remote target") for c in doc["not_applicable"])
    assert not any(t["kind"] == "direct" for t in doc["targets"])
    assert done.returncode == (0 if doc["summary"]["ok"] else 1), done.stderr[-2000:]
    report = json.loads(report_file.read_text())
    assert report["target"] == _url(stack)
    assert report["phases"]["bench"]["status"] == ("passed" if doc["summary"]["ok"] else "failed")

    views = _remote_cli(stack, "report", str(report_file), timeout=120)
    assert views.returncode == 0, views.stderr[-2000:]
    markdown = next(report_file.parent.glob("STAGING_DEPLOYMENT_*.md")).read_text()
    assert f"{_url(stack)} (a stack stagectl did not start)" in markdown
    assert f"{len(DIRECT_NEEDS)} not applicable" in markdown
    print(f"bench --url: {[(n, t['p95_ms']) for n, t in measured.items()]}")


def test_smoke_url_with_a_wrong_key_fails(stack):  # noqa: F811
    """Fault: the remote run passes although the key it was given is not the stack's."""
    sets = [a for k, v in stack.overrides.items() for a in ("--set", f"{k}={v}")]
    argv = [sys.executable, "-m", "stagectl", "--env-file", str(stack.env_file), *sets,
            "smoke", "--url", _url(stack), "-k", "ApiKeys", "--json"]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO), "STAGECTL_API_KEY": "not-the-stack-key-1234"}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    doc = json.loads(done.stdout)
    failed = {c["id"] for c in doc["checks"] if c["status"] == "fail"}
    assert done.returncode == 1 and {"smoke.TestApiKeys.test_valid_x_api_key", "smoke.TestApiKeys.test_valid_bearer"} <= failed


def _llm_mode(stack, mode: str) -> None:  # noqa: F811
    import httpx

    env = stack.project().env
    response = httpx.post(env["OPENAI_BASE_URL"].rstrip("/").removesuffix("/v1") + "/_admin/mode", json={"mode": mode},
                          headers={"Authorization": f"Bearer {env['OPENAI_API_KEY']}"}, timeout=10)
    assert response.status_code == 200, response.text


def test_chaos_url_observes_the_baseline_and_reports_faults_not_applicable(stack):  # noqa: F811
    from stagectl.chaos import select_scenarios

    expected_na = {f"chaos.{s.name}" for s in select_scenarios("quick")}
    report_file = stack.tmp / "remote-chaos" / "report.json"
    done = _remote_cli(stack, "chaos", "--url", _url(stack), "--json", "--report", str(report_file), timeout=300)
    doc = json.loads(done.stdout)
    rows = {r["name"]: r for r in doc["scenarios"]}
    assert done.returncode == 0, f"{rows.get('baseline')}\n{done.stderr[-2000:]}"
    assert rows["baseline"]["status"] == "pass" and rows["baseline"]["observed_level"] == "OPTIMAL"
    na = {f"chaos.{name}" for name, r in rows.items() if r["status"] == "skip" and r["detail"].startswith("not applicable: remote target")}
    assert na == expected_na and set(rows) == {"baseline"} | {n.removeprefix("chaos.") for n in expected_na}
    assert doc["summary"]["not_applicable"] == len(expected_na) and doc["summary"]["passed"] == 1
    phase = json.loads(report_file.read_text())["phases"]["chaos"]
    assert phase["status"] == "passed"

    # Seeded fault (last: the stack must recover for nothing after it): the LLM fails, the baseline must too.
    _llm_mode(stack, "error")
    try:
        broken = _remote_cli(stack, "chaos", "--url", _url(stack), "--json", timeout=300)
    finally:
        _llm_mode(stack, "normal")
    baseline = next(r for r in json.loads(broken.stdout)["scenarios"] if r["name"] == "baseline")
    # named by the service, or by a feature that needs it (whichever the baseline sees first: the
    # level from the dashboard's last probe, or the AI endpoints refusing)
    llm_words = ("openai", "ai_recommendations", "full_ai_pipeline")
    assert broken.returncode == 1 and baseline["status"] == "fail", baseline
    assert any(word in baseline["detail"] for word in llm_words), baseline
