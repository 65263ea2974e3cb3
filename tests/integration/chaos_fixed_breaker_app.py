"""Test-only broken dashboard: every breaker reports its configured recovery timeout but waits a
fixed 30 s (the seeded mistake of issue 14, class 5). Levels come out right, only late; chaos's
breaker timing must notice. Run: ``uvicorn tests.integration.chaos_fixed_breaker_app:create_app --factory``."""

from __future__ import annotations

from inventario_dashboard.app import create_app as create_dashboard
from inventario_dashboard.resilience import breaker

FIXED_RECOVERY_S = 30.0


class FixedTimeoutBreaker(breaker.CircuitBreaker):
    def __init__(self, service, failure_threshold, recovery_timeout, *args, **kwargs):
        super().__init__(service, failure_threshold, recovery_timeout, *args, **kwargs)
        self.configured = float(recovery_timeout)
        self.recovery_timeout = FIXED_RECOVERY_S

    def snapshot(self):
        return {**super().snapshot(), "recovery_timeout_s": self.configured}


def create_app():
    breaker.CircuitBreaker = FixedTimeoutBreaker  # type: ignore[misc]  # the module builds them by this name
    return create_dashboard()
