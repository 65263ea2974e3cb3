"""A latency figure from too few samples fails, and every latency figure carries its n (issue 14,
class 3): bench's judge, the smoke suite's p95 helper, the JUnit → CheckResult evidence, and the
report's smoke latency table."""

from __future__ import annotations

import types

import pytest

from checks.smoke._support import MIN_LATENCY_SAMPLES, latency_p95_ms
from stagectl.bench.load import MIN_LATENCY_SAMPLES as BENCH_MIN
from stagectl.bench.load import Measurement, judge, summarize
from stagectl.report.markdown import _smoke_latency_rows
from stagectl.results import CheckResult
from stagectl.secrets import Masker
from stagectl.smoke.runner import parse_junit


def test_the_documented_minimum_is_one_number():
    assert MIN_LATENCY_SAMPLES == BENCH_MIN >= 20


def test_bench_fails_a_fast_p95_from_one_sample():
    one = summarize(Measurement("health", "http", count=1, limit_var="PERF_HEALTH_P95_MS", limit_ms=100), [1.0], 1.0)
    assert judge(one).status == "fail" and "from 1 samples" in one.detail


def test_bench_passes_at_the_minimum():
    enough = summarize(Measurement("health", "http", count=BENCH_MIN, limit_var="PERF_HEALTH_P95_MS", limit_ms=100),
                       [1.0] * BENCH_MIN, 1.0)
    assert judge(enough).status == "pass"


def test_smoke_p95_from_one_request_fails_and_records_n():
    recorded: dict[str, object] = {}
    with pytest.raises(pytest.fail.Exception, match="from 1 samples"):
        latency_p95_ms([0.001], recorded.__setitem__, 100.0)
    assert recorded == {"n": 1}


def test_smoke_p95_records_n_p95_and_limit():
    recorded: dict[str, object] = {}
    p95 = latency_p95_ms([0.001] * 19 + [0.050], recorded.__setitem__, 100.0)
    assert recorded == {"n": 20, "p95_ms": round(p95, 3), "limit_ms": 100.0} and p95 == pytest.approx(1.0)


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="checks.smoke.test_performance.TestPerformance" name="test_health_p95" time="1.0">
<properties><property name="n" value="60"/><property name="p95_ms" value="12.5"/><property name="limit_ms" value="100.0"/></properties>
</testcase>
<testcase classname="checks.smoke.test_performance.TestPerformance" name="test_api_p95" time="1.0">
<properties><property name="n" value="1"/></properties>
<failure message="a p95 from 1 samples: at least 20 are needed">trace</failure>
</testcase>
<testcase classname="checks.smoke.test_health.TestHealth" name="test_live" time="0.1"/>
</testsuite></testsuites>"""


def test_junit_properties_become_evidence_and_the_message(tmp_path):
    path = tmp_path / "smoke.xml"
    path.write_text(JUNIT)
    health, api, live = parse_junit(path, Masker())
    assert health.status == "pass" and health.message == "passed (n=60, p95_ms=12.5, limit_ms=100.0)"
    assert health.evidence == "n=60\np95_ms=12.5\nlimit_ms=100.0"
    assert api.status == "fail" and api.evidence.startswith("n=1\n") and "trace" in api.evidence
    assert live.evidence is None and live.message == "passed"


def test_report_table_shows_n_next_to_each_p95():
    checks = [CheckResult("smoke.TestPerformance.test_health_p95", "Performance", "pass", "passed",
                          evidence="n=60\np95_ms=12.5\nlimit_ms=100.0"),
              CheckResult("smoke.TestHealth.test_live", "Health", "pass", "passed")]
    report = types.SimpleNamespace(phases=types.SimpleNamespace(smoke=types.SimpleNamespace(checks=checks)))
    assert _smoke_latency_rows(report) == [("smoke.TestPerformance.test_health_p95", "60", "12.5", "100.0", "pass")]
