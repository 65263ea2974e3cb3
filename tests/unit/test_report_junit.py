"""The JUnit view of a report: valid against the Jenkins/Ant JUnit XSD, one suite per phase,
stable ids, evidence in system-out, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagectl.report.junit import render_junit
from stagectl.report.model import ChaosPhase
from stagectl.secrets import Masker
from tests.data.sample_report import build_sample_report

etree = pytest.importorskip("lxml.etree", reason="lxml not installed (pip install lxml) — needed for XSD validation")

DATA = Path(__file__).resolve().parents[1] / "data"

XSD = DATA / "junit" / "junit-10.xsd"
CANARY = "canary-S3cr3t-9f1b7"


def validated(xml_text: str):
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.fromstring(xml_text.encode("utf-8"))
    assert schema.validate(doc), str(schema.error_log)
    return doc


def test_the_vendored_xsd_rejects_a_malformed_document():
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert not schema.validate(etree.fromstring(b"<testsuites><testsuite name='x'/></testsuites>"))


@pytest.mark.parametrize("failing", [False, True])
def test_report_junit_validates_against_the_jenkins_xsd(failing):
    validated(render_junit(build_sample_report(failing=failing)))


def test_one_suite_per_phase_with_stable_case_ids_and_counts():
    report = build_sample_report(failing=True)
    doc = validated(render_junit(report))
    suites = doc.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"stagectl.{n}" for n, _ in report.phases.items()]
    smoke = next(s for s in suites if s.get("name") == "stagectl.smoke")
    assert (smoke.get("tests"), smoke.get("failures"), smoke.get("errors")) == ("20", "1", "0")
    names = [c.get("name") for c in doc.iter("testcase")]
    assert names == [c.id for _, p in report.phases.items() for c in p.all_checks()]
    assert render_junit(report) == render_junit(build_sample_report(failing=True))


def test_failure_carries_message_and_evidence_in_system_out():
    doc = validated(render_junit(build_sample_report(failing=True)))
    case = next(c for c in doc.iter("testcase") if c.get("name") == "smoke.ratelimit.enforced")
    assert "expected 429 after 100" in case.find("failure").get("message")
    assert "(no X-RateLimit-Limit header)" in case.find("system-out").text
    skipped = next(c for c in doc.iter("testcase") if c.get("name") == "up.grafana")
    assert skipped.find("skipped").get("message") == "grafana-server not on PATH"


def test_a_phase_that_did_not_run_shows_up_with_its_reason():
    report = build_sample_report()
    aborted = ChaosPhase(status="aborted", reason="not run: smoke failed")
    report = report.model_copy(update={"phases": report.phases.model_copy(update={"chaos": aborted})})
    doc = validated(render_junit(report))
    chaos = next(s for s in doc.findall("testsuite") if s.get("name") == "stagectl.chaos")
    case = chaos.find("testcase")
    assert case.get("name") == "chaos.phase" and "not run: smoke failed" in case.find("skipped").get("message")


def test_secrets_masked_in_junit():
    text = render_junit(build_sample_report(failing=True, secret=CANARY), Masker([CANARY]))
    validated(text)
    assert CANARY not in text and "****" in text


def test_suites_carry_timestamp_and_hostname_and_chaos_bench_cases_their_real_time():
    """Fault: chaos and bench cases written with time 0.000, suites without timestamp/hostname."""
    import datetime as dt
    import socket

    from stagectl.chaos.runner import ChaosRun, ScenarioResult

    report = build_sample_report()
    doc = validated(render_junit(report))
    for suite in doc.iter("testsuite"):
        assert suite.get("hostname") == socket.gethostname()
        stamp = dt.datetime.fromisoformat(suite.get("timestamp"))
        phase = dict(report.phases.items())[suite.get("name").removeprefix("stagectl.")]
        expected = phase.started_at or report.started_at
        assert stamp == expected.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    # the chaos runner's own results carry the scenario's wall time into the JUnit case
    run = ChaosRun([ScenarioResult("redis-down", ["redis"], {"redis": "stop"}, "DEGRADED", 85.0, status="pass",
                                   duration_s=12.345)], [], 1.0, 13.0, True, final_s=0.5)
    times = {c.id: c.duration_ms for c in run.check_results()}
    assert times == {"chaos.redis-down": 12345.0, "chaos.final-health": 500.0}


def test_bench_cases_take_the_measured_wall_time():
    from stagectl.bench.load import Measurement
    from stagectl.bench.stack import BenchRun

    m = Measurement("GET /health", "http", count=10, ok=10, wall_s=2.5, status="pass")
    run = BenchRun([m], {"concurrency": 10})
    assert [c.duration_ms for c in run.check_results() if c.id == "bench.GET /health"] == [2500.0]
