"""Security headers (docs/contract.md §6) on success and error responses alike (the 503 case is checked
in test_features.py while the stack is degraded)."""

from __future__ import annotations

import pytest

STATUSES = (200, 401, 429)
HEADERS = ("Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
           "Referrer-Policy")


@pytest.fixture(scope="module")
def responses(api, anon, burst):
    return {200: api.get("/api/inventory", params={"limit": 1}), 401: anon.get("/api/inventory"), 429: burst.last}


class TestSecurityHeaders:
    @pytest.mark.parametrize("status", STATUSES)
    @pytest.mark.parametrize("header", HEADERS)
    def test_header(self, cfg, responses, status, header):
        """Fault: a header missing or wrong on this kind of response (HSTS: present exactly when enabled)."""
        response = responses[status]
        assert response.status_code == status, f"could not provoke {status}: got {response.status_code}"
        expected = cfg.security_headers().get(header)  # None: must be absent (HSTS disabled)
        assert response.headers.get(header) == expected

    @pytest.mark.parametrize("status", STATUSES)
    def test_request_id(self, cfg, anon, status, responses, unique):
        """Fault: no request id on the response, or a client's id not echoed."""
        name = cfg.require("REQUEST_ID_HEADER")
        assert responses[status].headers.get(name), f"{status}: no {name}"
        if status != 429:
            path_key = {} if status == 401 else {"X-API-Key": cfg.api_key}
            echoed = anon.get("/api/inventory", params={"limit": 1}, headers={name: f"smoke-{unique}", **path_key})
            assert echoed.status_code == status and echoed.headers.get(name) == f"smoke-{unique}"
