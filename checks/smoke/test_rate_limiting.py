"""Rate limiting (docs/contract.md §6): DASHBOARD_RATELIMIT_REQUESTS per DASHBOARD_RATELIMIT_WINDOW per key
and client on /api/*; the (limit+1)-th request in a window is refused, the next window is free."""

from __future__ import annotations

import time


class TestRateLimiting:
    def test_headers_count_down(self, burst):
        """Fault: X-RateLimit-* missing, a different limit than configured, or a miscount."""
        within = burst.responses[:-1]
        assert [r.headers.get("X-RateLimit-Limit") for r in within] == [str(burst.limit)] * burst.limit, burst.describe()
        remaining = [r.headers.get("X-RateLimit-Remaining") for r in within]
        assert remaining == [str(burst.limit - n) for n in range(1, burst.limit + 1)], burst.describe()
        resets = [int(r.headers["X-RateLimit-Reset"]) for r in within]
        assert all(1 <= s <= burst.window for s in resets), resets

    def test_limit_plus_one_is_429(self, burst):
        """Fault: the limiter is off or too generous (the request over the limit passes)."""
        assert [r.status_code for r in burst.responses[:-1]] == [200] * burst.limit, burst.describe()
        last = burst.last
        assert last.status_code == 429, burst.describe()
        assert last.json()["error"] == "rate_limited"
        assert 1 <= int(last.headers["Retry-After"]) <= burst.window
        assert last.headers["X-RateLimit-Limit"] == str(burst.limit)
        assert last.headers["X-RateLimit-Remaining"] == "0"

    def test_passes_again_after_window(self, burst):
        """Fault: the window never resets (clients locked out for good)."""
        assert burst.last.status_code == 429, burst.describe()
        wait = int(burst.last.headers["Retry-After"])
        assert wait <= burst.window
        time.sleep(wait + 0.3)
        again = burst.client.get(burst.PATH, params=burst.PARAMS)
        assert again.status_code == 200, again.text[:200]
        assert again.headers["X-RateLimit-Remaining"] == str(burst.limit - 1)
