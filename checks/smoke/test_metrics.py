"""/metrics (docs/contract.md §6): protected, every series present, and moving with traffic."""

from __future__ import annotations

import pytest

from ._support import SERVICES, families, sample, scrape

# Family names as prometheus_client's parser reports them (counters without `_total`).
FAMILIES = ("dashboard_requests", "dashboard_errors", "dashboard_request_duration_seconds",
            "dashboard_health_score", "dashboard_degradation_level", "dashboard_service_up",
            "dashboard_feature_available", "circuit_breaker_state", "circuit_breaker_failures",
            "circuit_breaker_transitions", "dashboard_fallback", "dashboard_rate_limited")


class TestMetrics:
    def test_requires_auth(self, cfg, anon):
        """Fault: /metrics readable without a valid key."""
        missing = anon.get("/metrics")
        assert missing.status_code == 401 and missing.json()["error"] == "missing_api_key", missing.text[:200]
        wrong = anon.get("/metrics", headers={"Authorization": f"Bearer {cfg.api_key}x"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_api_key", wrong.text[:200]

    def test_bearer_accepted(self, cfg, anon):
        """Fault: Prometheus (Bearer only) cannot scrape."""
        response = anon.get("/metrics", headers={"Authorization": f"Bearer {cfg.api_key}"})
        assert response.status_code == 200 and "dashboard_requests_total" in response.text

    @pytest.mark.parametrize("family", FAMILIES)
    def test_series_present(self, anon, api, family):
        """Fault: a series of the contract is not exported (an error is provoked first, so the
        error counter has a child)."""
        anon.get("/api/inventory")
        assert family in families(api)

    def test_request_counter_moves(self, api):
        """Fault: requests are not counted (or counted under a raw path instead of the route)."""
        labels = dict(method="GET", route="/api/inventory", status="200")
        before = sample(scrape(api), "dashboard_requests_total", **labels)
        assert api.get("/api/inventory", params={"limit": 1}).status_code == 200
        assert api.get("/api/inventory", params={"limit": 2}).status_code == 200
        after = sample(scrape(api), "dashboard_requests_total", **labels)
        assert after - before == 2

    def test_error_counter_moves(self, anon, api):
        """Fault: error responses are not counted by their stable error code."""
        labels = dict(route="/api/inventory", error_type="missing_api_key")
        before = sample(scrape(api), "dashboard_errors_total", **labels)
        assert anon.get("/api/inventory").status_code == 401
        assert sample(scrape(api), "dashboard_errors_total", **labels) - before == 1

    def test_latency_histogram_moves(self, api):
        """Fault: no duration observed, or the histogram is inconsistent (+Inf bucket != count)."""
        # /health/ready: no probe of stagectl or compose calls it, so only this test moves it
        labels = dict(method="GET", route="/health/ready")
        before = sample(scrape(api), "dashboard_request_duration_seconds_count", **labels)
        api.get("/health/ready")
        samples = scrape(api)
        count = sample(samples, "dashboard_request_duration_seconds_count", **labels)
        assert count - before == 1
        assert sample(samples, "dashboard_request_duration_seconds_bucket", le="+Inf", **labels) == count
        assert sample(samples, "dashboard_request_duration_seconds_sum", **labels) > 0

    def test_route_labels_bounded(self, api, unique):
        """Fault: a raw path (unbounded cardinality) becomes a label instead of the route template."""
        api.get(f"/api/inventory/NOPE-{unique}")
        keys = scrape(api)
        routes = {dict(labels).get("route") for name, labels in keys if name == "dashboard_requests_total"}
        assert "/api/inventory/{sku}" in routes
        assert not any(unique in (r or "") for r in routes), routes

    def test_gauges_agree_with_health(self, api, optimal):
        """Fault: service, feature or breaker gauges disagree with a healthy /health."""
        samples = scrape(api)
        for service in SERVICES:
            assert sample(samples, "dashboard_service_up", service=service) == 1.0, service
        available = {dict(labels)["feature"]: value for (name, labels), value in samples.items()
                     if name == "dashboard_feature_available"}
        assert available == {name: 1.0 for name in optimal["features"]}
