"""Rate limiting on /api/*: shared through Redis by every dashboard process, and — Redis down —
a per-process limiter takes over (limits are never off)."""
from __future__ import annotations

import secrets
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
LIMIT = 6
WINDOW = 10


@pytest.fixture(scope="module")
def pair(dashboard_factory):
    """Two dashboard processes with the same key and Redis: one shared budget."""
    key = secrets.token_urlsafe(24)
    env = dict(DASHBOARD_API_KEY=key, DASHBOARD_RATELIMIT_REQUESTS=str(LIMIT), DASHBOARD_RATELIMIT_WINDOW=str(WINDOW),
               REDIS_CB_FAILURE_THRESHOLD="2")
    return dashboard_factory(**env), dashboard_factory(**env)


def wait_level(client, predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = client.get("/health").json()
        if predicate(report):
            return report
        time.sleep(0.1)
    raise AssertionError(f"condition not reached; last {report.get('degradation_level')}")


def fresh_window(client) -> None:
    """Sleep into a new window when this one ends soon, so a burst is not split by a boundary."""
    reset = int(client.get("/api/analytics/summary").headers["X-RateLimit-Reset"])
    if reset < 4:
        time.sleep(reset + 0.2)


def test_limit_is_shared_between_processes_then_local_when_redis_is_down(pair, deps):
    a, b = pair
    with a.client() as ca, b.client() as cb:
        for client in (ca, cb):
            wait_level(client, lambda r: r["degradation_level"] == "OPTIMAL")
        fresh_window(ca)
        statuses, remaining = [], []
        for i in range(LIMIT + 2):
            response = (ca if i % 2 == 0 else cb).get("/api/analytics/summary")
            statuses.append(response.status_code)
            remaining.append(response.headers.get("X-RateLimit-Remaining"))
        # One shared counter: LIMIT requests pass in total, whichever process served them.
        assert statuses.count(200) <= LIMIT and statuses[-1] == 429, statuses
        limited = next(r for r in (ca.get("/api/inventory"), cb.get("/api/inventory")))
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert limited.headers["X-Frame-Options"] == "DENY" and limited.headers["X-Request-ID"]

        deps.redis.stop()
        try:
            wait_level(ca, lambda r: r["services"]["redis"]["status"] == "down")
            wait_level(ca, lambda r: r["features"]["rate_limiting"] is False)
            # Per-process limiter: still limited, still announced, within LIMIT for this process.
            fresh_window(ca)
            local = [ca.get("/api/analytics/summary") for _ in range(LIMIT + 2)]
            codes = [r.status_code for r in local]
            assert codes.count(429) >= 2 and codes[-1] == 429, codes
            assert all(r.headers.get("X-RateLimit-Limit") == str(LIMIT) for r in local)
            metrics = ca.get("/metrics").text
            assert 'dashboard_fallback_total{service="redis"}' in metrics
            fallback = [line for line in metrics.splitlines() if line.startswith('dashboard_fallback_total{service="redis"}')]
            assert float(fallback[0].split()[-1]) >= LIMIT
        finally:
            deps.redis.start()
        wait_level(ca, lambda r: r["services"]["redis"]["status"] == "up", timeout=20)
