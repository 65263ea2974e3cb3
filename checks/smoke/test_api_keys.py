"""API-key validation (docs/contract.md §6): X-API-Key or Authorization: Bearer, else 401 with a code."""

from __future__ import annotations

PATH, PARAMS = "/api/inventory", {"limit": 1}


class TestApiKeys:
    def test_missing_key(self, anon):
        """Fault: an unauthenticated request is served, or answered without the stable code."""
        response = anon.get(PATH, params=PARAMS)
        assert response.status_code == 401 and response.json()["error"] == "missing_api_key", response.text[:200]

    def test_wrong_key(self, cfg, anon):
        """Fault: a wrong key is accepted (or reported as missing)."""
        response = anon.get(PATH, params=PARAMS, headers={"X-API-Key": cfg.api_key[:-1] + "#"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_api_key", response.text[:200]

    def test_valid_x_api_key(self, cfg, anon):
        """Fault: the configured key is refused via X-API-Key."""
        assert anon.get(PATH, params=PARAMS, headers={"X-API-Key": cfg.api_key}).status_code == 200

    def test_valid_bearer(self, cfg, anon):
        """Fault: the configured key is refused via Authorization: Bearer (Prometheus' only way)."""
        assert anon.get(PATH, params=PARAMS, headers={"Authorization": f"Bearer {cfg.api_key}"}).status_code == 200

    def test_wrong_bearer(self, cfg, anon):
        """Fault: a wrong bearer token is accepted."""
        response = anon.get(PATH, params=PARAMS, headers={"Authorization": f"Bearer not-{cfg.api_key}"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_api_key", response.text[:200]
