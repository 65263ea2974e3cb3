"""The report step as the lifecycle engine runs it: what `stagectl run` will wire in."""

from __future__ import annotations

import datetime as dt
import json

from stagectl.pipeline import Pipeline, Step
from stagectl.report.model import SmokePhase, UpPhase
from stagectl.report.step import ReportStep
from stagectl.secrets import Masker

T1 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.timezone.utc)
CANARY = "canary-S3cr3t-9f1b7"


def _steps(report_step, smoke_status="passed"):
    return [
        Step("up", lambda ctx: UpPhase(status="passed", command="stagectl up")),
        Step("smoke", lambda ctx: SmokePhase(status=smoke_status, reason=f"token {CANARY} rejected")),
        Step("bench", lambda ctx: SmokePhase(status="passed")),
        Step("report", report_step, kind="final"),
    ]


def test_report_step_writes_report_json_and_views_with_the_runs_verdict(tmp_path):
    step = ReportStep(tmp_path / "reports", run_id="run-1", project="p", backend="local",
                      masker=Masker([CANARY]), service_versions=lambda: {"redis": "7.0.15"}, now=lambda: T1)
    result = Pipeline(_steps(step, smoke_status="failed"), handle_signals=False).run()
    assert result.exit_code == 1
    written = result.records[-1].result.paths
    assert sorted(p.name for p in written) == ["STAGING_DEPLOYMENT_FAILED.md", "junit.xml", "report.html", "report.json"]
    data = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert (data["outcome"], data["exit_code"], data["finished_at"]) == ("FAILED", 1, "2026-11-28T10:00:00Z")
    assert data["service_versions"] == {"redis": "7.0.15"}
    assert data["phases"]["bench"]["status"] == "aborted"
    for path in written:
        assert CANARY not in path.read_text(encoding="utf-8"), path.name


def test_unwritable_report_turns_a_passing_run_into_exit_1(tmp_path):
    (tmp_path / "reports").write_text("not a directory")
    step = ReportStep(tmp_path / "reports", run_id="run-2", project="p", backend="local")
    result = Pipeline(_steps(step), handle_signals=False).run()
    final = result.records[-1]
    assert final.status == "failed" and "could not write" in final.reason
    assert result.exit_code == 1 and result.outcome == "FAILED"
