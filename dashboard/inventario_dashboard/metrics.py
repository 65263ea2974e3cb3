"""Prometheus series of docs/contract.md §6, in a CollectorRegistry owned by one app instance."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .resilience.breaker import BreakerState

BREAKER_STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}
# Every transition the breaker state machine can make (pre-created at 0 so rate() works at once).
BREAKER_TRANSITIONS = ((BreakerState.CLOSED, BreakerState.OPEN), (BreakerState.OPEN, BreakerState.HALF_OPEN),
                       (BreakerState.HALF_OPEN, BreakerState.CLOSED), (BreakerState.HALF_OPEN, BreakerState.OPEN))
UNMATCHED_ROUTE = "<unmatched>"


class Metrics:
    """All series of the dashboard; labels only ever take bounded values (route templates)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("dashboard_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=r)
        self.errors = Counter("dashboard_errors", "Error responses by stable error code",
                              ["route", "error_type"], registry=r)
        self.duration = Histogram("dashboard_request_duration_seconds", "Request duration",
                                  ["method", "route"], registry=r,
                                  buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.health_score = Gauge("dashboard_health_score", "Weighted health score 0-100", registry=r)
        self.degradation_level = Gauge("dashboard_degradation_level",
                                       "1 OPTIMAL .. 5 EMERGENCY", registry=r)
        self.service_up = Gauge("dashboard_service_up", "1 up, 0.5 degraded, 0 down",
                                ["service"], registry=r)
        self.feature_available = Gauge("dashboard_feature_available", "1 when available",
                                       ["feature"], registry=r)
        self.breaker_state = Gauge("circuit_breaker_state", "0 closed, 1 open, 2 half-open",
                                   ["service"], registry=r)
        self.breaker_failures = Counter("circuit_breaker_failures", "Failures counted by a breaker",
                                        ["service"], registry=r)
        self.breaker_transitions = Counter("circuit_breaker_transitions", "Breaker state changes",
                                           ["service", "from_state", "to_state"], registry=r)
        self.fallbacks = Counter("dashboard_fallback", "Requests served by a fallback path",
                                 ["service"], registry=r)
        self.rate_limited = Counter("dashboard_rate_limited", "Requests refused with 429", registry=r)

    def init_labels(self, services, features) -> None:
        """Create every labelled child at 0, so each series exists before its first event."""
        for service in services:
            self.breaker_failures.labels(service)
            self.fallbacks.labels(service)
            self.service_up.labels(service)
            self.breaker_state.labels(service)
            for old, new in BREAKER_TRANSITIONS:
                self.breaker_transitions.labels(service, old.value, new.value)
        for feature in features:
            self.feature_available.labels(feature)

    def observe_manager(self, manager, breakers) -> None:
        """Listener of the DegradationManager: copy its state into the gauges."""
        self.health_score.set(manager.score)
        self.degradation_level.set(int(manager.level))
        for name, health in manager.services.items():
            self.service_up.labels(name).set({"up": 1.0, "degraded": 0.5}.get(health.status, 0.0))
        for feature, available in manager.features().items():
            self.feature_available.labels(feature).set(1 if available else 0)
        for name, breaker in breakers.items():
            self.breaker_state.labels(name).set(BREAKER_STATE_VALUE[BreakerState(breaker.state)])

    def on_breaker_transition(self, service: str, old, new) -> None:
        self.breaker_transitions.labels(service, BreakerState(old).value, BreakerState(new).value).inc()
        self.breaker_state.labels(service).set(BREAKER_STATE_VALUE[BreakerState(new)])

    def on_breaker_failure(self, service: str) -> None:
        self.breaker_failures.labels(service).inc()
