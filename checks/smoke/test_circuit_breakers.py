"""Circuit breakers (docs/contract.md §3): the live thresholds are the configured ones, all closed."""

from __future__ import annotations

import pytest

from ._support import SERVICES, full_health, sample, scrape


class TestCircuitBreakers:
    @pytest.mark.parametrize("service", SERVICES)
    def test_thresholds_match_config(self, cfg, api, service):
        """Fault: the dashboard ignores (or mis-reads) a `*_CB_*` variable — the original's bug."""
        live = full_health(api)["services"][service]["circuit_breaker"]
        expected = cfg.breaker(service)
        assert {k: live[k] for k in expected} == expected

    @pytest.mark.parametrize("service", SERVICES)
    def test_closed(self, api, optimal, service):
        """Fault: a breaker is open/half-open on a healthy stack, or its metric disagrees."""
        assert optimal["services"][service]["circuit_breaker"]["state"] == "closed"
        assert sample(scrape(api), "circuit_breaker_state", service=service) == 0.0
