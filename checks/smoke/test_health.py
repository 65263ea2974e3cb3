"""Health endpoints (docs/contract.md §4, §6): liveness, readiness, the short and the full report."""

from __future__ import annotations

import pytest

from ._support import BREAKER_FIELDS, SERVICE_FIELDS, SERVICES, STATUS_VALUE, full_health

FULL_FIELDS = {"status", "environment", "version", "timestamp", "health_score", "degradation_level",
               "services", "features", "recovery_prediction", "transitions"}


class TestHealth:
    def test_live(self, anon):
        """Fault: the process does not serve /health/live without a key."""
        response = anon.get("/health/live")
        assert response.status_code == 200 and response.json()["status"] == "alive"

    def test_ready(self, anon, optimal):
        """Fault: /health/ready not 200 (or not reporting the level) on a healthy stack."""
        response = anon.get("/health/ready")
        assert response.status_code == 200, response.text
        assert response.json()["degradation_level"] == "OPTIMAL"

    def test_short_without_key(self, anon, optimal):
        """Fault: /health without a key leaks the full report (or answers 401)."""
        response = anon.get("/health")
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"status", "degradation_level"}, response.json()
        assert response.json() == {"status": "healthy", "degradation_level": "OPTIMAL"}

    def test_wrong_key_is_401(self, cfg, anon):
        """Fault: /health with a wrong key answers anything but 401 invalid_api_key."""
        response = anon.get("/health", headers={"X-API-Key": cfg.api_key + "-wrong"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"

    def test_full_report_fields(self, optimal):
        """Fault: a field of docs/contract.md §6 missing from the full report, or a service missing."""
        assert set(optimal) >= FULL_FIELDS, f"missing {sorted(FULL_FIELDS - set(optimal))}"
        assert set(optimal["services"]) == set(SERVICES)
        for name, service in optimal["services"].items():
            assert set(service) >= SERVICE_FIELDS, f"{name}: missing {sorted(SERVICE_FIELDS - set(service))}"
            breaker = service["circuit_breaker"]
            assert set(breaker) >= BREAKER_FIELDS, f"{name}: breaker missing {sorted(BREAKER_FIELDS - set(breaker))}"
            assert service["status"] in STATUS_VALUE
            assert service["last_check"], f"{name}: never checked"
        assert len(optimal["features"]) == 16, sorted(optimal["features"])
        assert isinstance(optimal["transitions"], list) and len(optimal["transitions"]) <= 10

    def test_score_is_weighted_sum(self, cfg, api):
        """Fault: the score is not Σ configured weight × value of the reported statuses."""
        report = full_health(api)
        weights = cfg.weights()
        expected = sum(weights[n] * STATUS_VALUE[s["status"]] for n, s in report["services"].items())
        assert report["health_score"] == pytest.approx(expected), (report["health_score"], expected)

    def test_optimal_with_all_up(self, optimal):
        """Fault: a healthy stack does not reach OPTIMAL (score 100, every service up)."""
        statuses = {n: s["status"] for n, s in optimal["services"].items()}
        assert statuses == {n: "up" for n in SERVICES}
        assert optimal["health_score"] == pytest.approx(100.0)
        assert optimal["status"] == "healthy"

    def test_recovery_prediction_null_when_optimal(self, optimal):
        """Fault: the field is missing, or a made-up prediction is reported while OPTIMAL."""
        assert "recovery_prediction" in optimal
        assert optimal["recovery_prediction"] is None
