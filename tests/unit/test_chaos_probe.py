"""The HTTP judgement of chaos (no server: httpx.MockTransport and plain values).

Faults caught: an unavailable feature answering 200 (or a 503 of another kind, or without
Retry-After) passing; a 429 read as "available"; an available feature's 5xx passing; X-Cache not
matching redis_cache; a missing X-RateLimit header (limits off) unnoticed; the interval measured from
a stale first sample, or invented when no evaluation happened; the short /health (key refused)
taken for a report; a timeline that grows on every identical poll."""

from __future__ import annotations

import itertools

import httpx
import pytest

from stagectl.chaos.probe import PROBES, Dashboard, judge
from stagectl.loopback import fresh_loopback

GATED = {"error": "feature_unavailable", "feature": "s3_uploads", "degradation_level": "DEGRADED"}


def H(**headers) -> httpx.Headers:
    return httpx.Headers(headers)


@pytest.mark.parametrize("status,body,headers,available,problems", [
    (503, GATED, H(**{"retry-after": "10"}), False, 0),
    (422, {"error": "empty_body"}, H(), True, 0),
    (200, {}, H(), False, 1),  # not enforced
    (503, GATED, H(), False, 1),  # no Retry-After
    (503, GATED, H(**{"retry-after": "0"}), False, 1),
    (503, {**GATED, "feature": "file_storage"}, H(**{"retry-after": "5"}), False, 1),  # names another feature
    (503, {"error": "feature_unavailable", "feature": "s3_uploads"}, H(**{"retry-after": "5"}), True, 1),
    (503, {"error": "dependency_call_failed"}, H(), True, 1),
    (500, {}, H(), True, 1),
    (429, {"error": "rate_limited"}, H(), True, 1),
    (429, {"error": "rate_limited"}, H(), False, 1),
])
def test_judge(status, body, headers, available, problems):
    assert len(judge("s3_uploads", available, status, body, headers)) == problems


def test_every_contract_feature_but_two_has_an_endpoint_probe():
    from stagectl.chaos.scenarios import FEATURES

    # redis_cache shows as X-Cache, rate_limiting as X-RateLimit-* on every /api answer
    assert set(FEATURES) - set(PROBES) == {"redis_cache", "rate_limiting"}


def test_fresh_loopback_is_never_the_shared_default():
    addresses = {fresh_loopback() for _ in range(200)}
    assert "127.0.0.1" not in addresses and len(addresses) > 150
    assert all(a.startswith("127.") and all(1 <= int(p) <= 254 for p in a.split(".")[1:]) for a in addresses)


def mock_dashboard(handler) -> Dashboard:
    dashboard = Dashboard("http://dash", "key", clock=itertools.count(0, 0.05).__next__)
    dashboard.client = httpx.Client(base_url="http://dash", transport=httpx.MockTransport(handler),
                                    headers={"X-API-Key": "key"})
    dashboard._new_client = lambda: dashboard.client
    return dashboard


def report(level="OPTIMAL", score=100.0, stamp="2026-01-01T00:00:00+00:00", features=None) -> dict:
    return {"degradation_level": level, "health_score": score, "features": features or {},
            "services": {"database": {"status": "up", "last_check": stamp}}}


def test_interval_is_measured_between_two_later_evaluations():
    stamps = iter(["2026-01-01T00:00:00+00:00"] * 3 + ["2026-01-01T00:00:05+00:00"] * 3
                  + ["2026-01-01T00:00:06.500000+00:00"] * 3)
    dashboard = mock_dashboard(lambda request: httpx.Response(200, json=report(stamp=next(stamps))))
    assert dashboard.measure_interval(30, sleep=lambda s: None) == 1.5


def test_no_evaluation_within_the_window_gives_none():
    dashboard = mock_dashboard(lambda request: httpx.Response(200, json=report()))
    assert dashboard.measure_interval(2, sleep=lambda s: None) is None


def test_the_short_health_answer_is_not_a_report():
    dashboard = mock_dashboard(lambda request: httpx.Response(200, json={"status": "healthy",
                                                                         "degradation_level": "OPTIMAL"}))
    assert dashboard.health() is None and dashboard.timeline[-1]["level"] == "UNREACHABLE"


def test_timeline_records_changes_only():
    answers = iter([report(), report(), report("DEGRADED", 85.0), report("DEGRADED", 85.0), report()])
    dashboard = mock_dashboard(lambda request: httpx.Response(200, json=next(answers)))
    for _ in range(5):
        dashboard.health()
    assert [(p["level"], p["score"]) for p in dashboard.timeline] == [
        ("OPTIMAL", 100.0), ("DEGRADED", 85.0), ("OPTIMAL", 100.0)]


def _api_handler(cache: str, source: str = "database", ratelimit: bool = True):
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-RateLimit-Limit": "100"} if ratelimit else {}
        if request.url.path == "/api/inventory":
            headers |= {"X-Cache": cache, "X-Data-Source": source}
            return httpx.Response(200, json={"items": []}, headers=headers)
        return httpx.Response(404, json={"error": "not_found"}, headers=headers)
    return handler


def test_enforcement_checks_x_cache_against_redis_cache():
    everything = {name: True for name in [*PROBES, "redis_cache"]}
    assert mock_dashboard(_api_handler("MISS")).check_enforcement(everything) == []
    problems = mock_dashboard(_api_handler("BYPASS")).check_enforcement(everything)
    assert problems == ["redis_cache: X-Cache 'BYPASS', expected HIT/MISS"]
    no_cache = {**everything, "redis_cache": False}
    assert mock_dashboard(_api_handler("BYPASS")).check_enforcement(no_cache) == []
    assert mock_dashboard(_api_handler("BYPASS", source="cache")).check_enforcement(everything) == []


def test_enforcement_notices_missing_rate_limit_headers():
    everything = {name: True for name in PROBES}
    problems = mock_dashboard(_api_handler("MISS", ratelimit=False)).check_enforcement(everything)
    assert problems and all(p.startswith("rate_limiting:") for p in problems)
