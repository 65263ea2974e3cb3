"""report.json: the model, its committed schema, atomic masked writing, reading, and building."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import jsonschema
import pytest

from stagectl.backends.base import DownResult, ServiceStatus, UpResult
from stagectl.pipeline import Pipeline, Step
from stagectl.report.build import report_from_pipeline, teardown_phase, up_phase
from stagectl.report.model import Report, SmokePhase, UpPhase
from stagectl.report.schema import SCHEMA_PATH, schema_text
from stagectl.report.store import ReportReadError, ReportWriteError, read_report, report_json, write_report
from stagectl.secrets import Masker
from tests.data.sample_report import T0, build_sample_report

ROOT = Path(__file__).resolve().parents[2]

CANARY = "canary-S3cr3t-9f1b7"


def test_committed_schema_is_current():
    committed = (ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    assert committed == schema_text(), "regenerate: python -m stagectl.report.schema > docs/report.schema.json"


@pytest.mark.parametrize("failing", [False, True])
def test_sample_report_validates_against_the_committed_schema(failing):
    schema = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(report_json(build_sample_report(failing=failing)))
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_an_unknown_field_and_a_wrong_version():
    schema = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    document = json.loads(report_json(build_sample_report()))
    for bad in ({**document, "surprise": 1}, {**document, "stagectl_report_version": 2}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_write_then_read_round_trips_and_is_canonical(tmp_path):
    report = build_sample_report(failing=True)
    path = write_report(report, tmp_path / "reports" / "report.json")
    assert read_report(path) == report
    text = path.read_text(encoding="utf-8")
    assert text == report_json(read_report(path))  # stable: re-serialising gives the same bytes
    assert json.loads(text)["stagectl_report_version"] == 1


def test_write_masks_secrets_everywhere(tmp_path):
    report = build_sample_report(failing=True, secret=CANARY)
    assert CANARY in report_json(report)  # the canary really is planted (message, evidence, version)
    path = write_report(report, tmp_path / "report.json", Masker([CANARY]))
    text = path.read_text(encoding="utf-8")
    assert CANARY not in text
    assert text.count("****") >= 4  # message, evidence (twice), service version


def test_enotdir_is_reported_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "reports"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(ReportWriteError) as info:
        write_report(build_sample_report(), blocker / "report.json")
    assert "reports/report.json" in info.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]


def test_enospc_keeps_the_previous_report_and_removes_the_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    write_report(build_sample_report(), path)
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ReportWriteError) as info:
        write_report(build_sample_report(failing=True), path)
    assert "No space left on device" in info.value.message
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("{not json", "not valid JSON"), ('{"stagectl_report_version": 2}', "unsupported stagectl_report_version 2"),
     ('{"stagectl_report_version": 1, "run_id": 5}', "invalid report at")],
)
def test_read_rejects_bad_files_with_the_reason(tmp_path, content, fragment):
    path = tmp_path / "report.json"
    path.write_text(content)
    with pytest.raises(ReportReadError) as info:
        read_report(path)
    assert fragment in info.value.message and info.value.exit_code == 2


def test_read_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(ReportReadError) as info:
        read_report(tmp_path / "nope.json")
    assert "No such file" in info.value.message


def test_up_and_teardown_phases_from_backend_results():
    up = up_phase(UpResult(
        services=[ServiceStatus("postgres", "healthy", True, 101, 5433, ready_s=0.061),
                  ServiceStatus("redis", "exited", False, None, 6380, detail="exit 1: bind: address in use")],
        total_s=1.2, skipped={"grafana": "grafana-server not on PATH"}))
    assert up.status == "failed"
    checks = {c.id: c for c in up.all_checks()}
    assert checks["up.postgres"].status == "pass" and "0.061 s" in checks["up.postgres"].message
    assert checks["up.redis"].status == "fail" and checks["up.redis"].evidence == "exit 1: bind: address in use"
    assert checks["up.grafana"].status == "skip" and checks["up.grafana"].message == "grafana-server not on PATH"

    clean = teardown_phase(DownResult(stopped=["postgres", "redis"], killed=["redis"], leftovers=[]))
    dirty = teardown_phase(DownResult(stopped=["postgres"], killed=[], leftovers=["redis (pid 4242)"]))
    assert clean.status == "passed" and clean.checks[0].status == "pass"
    assert dirty.status == "failed" and "redis (pid 4242)" in dirty.checks[0].message


def test_report_from_pipeline_fills_phases_and_says_why_steps_did_not_run():
    smoke = SmokePhase(status="failed", command="stagectl smoke", checks=[])
    steps = [
        Step("preflight", lambda ctx: SmokePhase(status="passed")),
        Step("up", lambda ctx: UpPhase(status="passed")),
        Step("smoke", lambda ctx: smoke),
        Step("chaos", lambda ctx: None),
        Step("down", lambda ctx: (_ for _ in ()).throw(RuntimeError("kill failed")), kind="teardown"),
    ]
    result = Pipeline(steps, handle_signals=False).run()
    report = report_from_pipeline(result.records, run_id="r", project="p", backend="local", started_at=T0,
                                  finished_at=T0, exit_code=result.exit_code, outcome=result.outcome)
    assert (report.exit_code, report.outcome) == (5, "FAILED")  # teardown failure outranks the smoke failure
    assert [s.name for s in report.steps] == ["preflight", "up", "smoke", "chaos", "down"]
    assert report.phases.smoke is smoke
    assert report.phases.chaos.status == "aborted" and report.phases.chaos.reason == "not run: smoke failed"
    assert report.phases.teardown.status == "error" and "kill failed" in report.phases.teardown.reason
    assert report.phases.for_step("down") is report.phases.teardown
    assert report.phases.validate_ is None and report.phases.bench is None
    Report.model_validate_json(report.model_dump_json())  # the built report is a valid report
