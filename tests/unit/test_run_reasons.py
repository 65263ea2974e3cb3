"""A failed step of `stagectl run` names the checks that failed, so a CI log says what broke."""

from __future__ import annotations

from stagectl.results import CheckResult, failure_summary


def _check(cid: str, status: str, message: str = "") -> CheckResult:
    return CheckResult(cid, "bench", status, message or f"{cid} says {status}")  # type: ignore[arg-type]


def test_no_failure_means_no_reason():
    assert failure_summary([_check("a", "pass"), _check("b", "skip", "why")]) is None


def test_failures_and_errors_are_named_with_their_message_passes_and_skips_are_not():
    reason = failure_summary([_check("bench.health", "fail", "p95 130.2 ms > PERF_HEALTH_P95_MS=100 ms"),
                        _check("bench.db_query", "pass"), _check("bench.s3_op", "error", "boom"),
                        _check("bench.redis_op", "skip", "no redis")])
    assert reason == "2 failed — bench.health: p95 130.2 ms > PERF_HEALTH_P95_MS=100 ms; bench.s3_op: boom"


def test_long_lists_are_cut_and_say_how_many_more():
    reason = failure_summary([_check(f"c{i}", "fail") for i in range(5)], shown=2)
    assert reason.startswith("5 failed — c0: c0 says fail; c1: c1 says fail")
    assert reason.endswith("; and 3 more") and "c2" not in reason
