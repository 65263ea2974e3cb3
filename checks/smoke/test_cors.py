"""CORS live (docs/contract.md §6): the configured origins, and only they, are allowed by the running API.

The static check reads the env file; this one asks the dashboard, so a wildcard defaulted in code
(or a list the app ignores) cannot pass.
"""

from __future__ import annotations

import uuid

import pytest

ACAO = "access-control-allow-origin"


def _preflight(anon, origin: str):
    return anon.options("/api/inventory", headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                                    "Access-Control-Request-Headers": "X-API-Key"})


def _allowed(cfg) -> list[str]:
    return [o.strip() for o in cfg.env.get("DASHBOARD_CORS_ORIGINS", "").split(",") if o.strip()]


class TestCors:
    def test_unlisted_origin_gets_no_allow_origin(self, anon):
        """Fault: a preflight from an origin not on DASHBOARD_CORS_ORIGINS is allowed (a wildcard default)."""
        origin = f"https://not-allowed-{uuid.uuid4().hex[:8]}.invalid"
        response = _preflight(anon, origin)
        assert ACAO not in response.headers, f"{origin}: {ACAO}: {response.headers.get(ACAO)!r} (status {response.status_code})"
        simple = anon.get("/health/live", headers={"Origin": origin})
        assert ACAO not in simple.headers, f"GET with Origin {origin}: {ACAO}: {simple.headers.get(ACAO)!r}"

    def test_listed_origin_is_allowed(self, cfg, anon):
        """Fault: the configured origins are ignored (no Access-Control-Allow-Origin for them)."""
        allowed = _allowed(cfg)
        if not allowed:
            pytest.skip("DASHBOARD_CORS_ORIGINS is empty: no origin is allowed, so there is none to test allowing with")
        for origin in allowed:
            response = _preflight(anon, origin)
            assert response.status_code == 200, f"{origin}: preflight answered {response.status_code}"
            assert response.headers.get(ACAO) == origin, f"{origin}: {ACAO} is {response.headers.get(ACAO)!r}"
