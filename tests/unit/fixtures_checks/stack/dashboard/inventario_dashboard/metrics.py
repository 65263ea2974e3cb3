from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("dashboard_requests_total", "requests", ["method", "route", "status"])
ERRORS = Counter("dashboard_errors_total", "errors", ["route", "error_type"])
DURATION = Histogram("dashboard_request_duration_seconds", "latency", ["route"])
HEALTH = Gauge("dashboard_health_score", "score")
LEVEL = Gauge("dashboard_degradation_level", "level")
SERVICE_UP = Gauge("dashboard_service_up", "up", ["service"])
FEATURE = Gauge("dashboard_feature_available", "feature", ["feature"])
BREAKER = Gauge("circuit_breaker_state", "state", ["service"])
BREAKER_FAILURES = Counter("circuit_breaker_failures_total", "failures", ["service"])
TRANSITIONS = Counter("circuit_breaker_transitions_total", "t", ["service", "from_state", "to_state"])
FALLBACK = Counter("dashboard_fallback_total", "f", ["service"])
RATE_LIMITED = Counter("dashboard_rate_limited_total", "r")
