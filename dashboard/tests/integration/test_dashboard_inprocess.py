"""The app in-process (starlette TestClient runs the real lifespan against the real services):
an exception escaping a route is a JSON 500 with every security header, HSTS follows its switch,
and the factory refuses a staging key that is empty or the example value."""
from __future__ import annotations

import json
import secrets

import pytest
from fastapi.testclient import TestClient

from inventario_dashboard.app import create_app
from inventario_dashboard.settings import SettingsError, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def settings_for(deps, **overrides):
    values = {k.lower(): v for k, v in deps.env.items()}
    values.update(dashboard_api_key=secrets.token_urlsafe(20), **overrides)
    return load_settings(**values)


def test_unhandled_exception_is_json_500_with_security_headers(deps, tmp_path, monkeypatch):
    log_file = tmp_path / "dashboard.jsonl"
    monkeypatch.setenv("LOG_FILE", str(log_file))
    settings = settings_for(deps)
    app = create_app(settings)

    async def boom():
        raise RuntimeError("kaboom with a secret " + settings.postgres_password.get_secret_value())
    app.add_api_route("/api/boom", boom)   # test-only route: the production app has none that fails
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/boom", headers={"X-API-Key": settings.dashboard_api_key.get_secret_value(),
                                                    "X-Request-ID": "boom-1"})
        metrics = client.get("/metrics", headers={"X-API-Key": settings.dashboard_api_key.get_secret_value()}).text
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error"}
    assert response.headers["X-Request-ID"] == "boom-1"
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert settings.postgres_password.get_secret_value() not in response.text
    assert 'dashboard_errors_total{error_type="internal_error",route="/api/boom"} 1.0' in metrics
    assert 'dashboard_requests_total{method="GET",route="/api/boom",status="500"} 1.0' in metrics
    # The traceback is logged (one JSON object), with the secret in the message masked.
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    crash = [e for e in entries if e["msg"] == "unhandled error"]
    assert crash and crash[0]["request_id"] == "boom-1" and "RuntimeError" in crash[0]["exc"]
    assert "kaboom with a secret ***" in crash[0]["exc"]
    assert settings.postgres_password.get_secret_value() not in log_file.read_text()


def test_hsts_only_when_enabled(deps):
    app = create_app(settings_for(deps, dashboard_enable_hsts=False))
    with TestClient(app) as client:
        response = client.get("/health/live")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_each_app_has_its_own_registry(deps):
    first, second = create_app(settings_for(deps)), create_app(settings_for(deps))
    assert first.state.services.metrics.registry is not second.state.services.metrics.registry


@pytest.mark.parametrize("key", ["", "change-me-dashboard-api-key"])
def test_staging_refuses_missing_or_example_key(deps, key):
    values = {k.lower(): v for k, v in deps.env.items()}
    with pytest.raises(SettingsError, match="DASHBOARD_API_KEY"):
        create_app(load_settings(**{**values, "dashboard_api_key": key}))


def test_request_timeout_is_504_json_with_headers(deps):
    import asyncio
    settings = settings_for(deps, dashboard_request_timeout=0.5)
    app = create_app(settings)

    async def slow():
        await asyncio.sleep(5)
        return {"late": True}
    app.add_api_route("/api/slow", slow)   # test-only route standing in for a stuck dependency
    key = settings.dashboard_api_key.get_secret_value()
    with TestClient(app) as client:
        response = client.get("/api/slow", headers={"X-API-Key": key})
    assert response.status_code == 504
    assert response.json() == {"error": "request_timeout", "timeout_s": 0.5}
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Request-ID"]


def test_log_level_is_honoured(deps, tmp_path, monkeypatch):
    log_file = tmp_path / "warn.jsonl"
    monkeypatch.setenv("LOG_FILE", str(log_file))
    settings = settings_for(deps, log_level="WARNING")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/no-such-page").status_code == 404
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert all(line["level"] in ("WARNING", "ERROR", "CRITICAL") for line in lines), lines[:3]
    assert not any(line.get("route") == "/health/live" for line in lines)


FROZEN_AFTER_LLM_LOAD = """
import gc, json, os, sys, time
from fastapi.testclient import TestClient
from inventario_dashboard.app import create_app
from inventario_dashboard.settings import load_settings

assert "openai" not in sys.modules, "openai must first be imported by the app's loader thread"
settings = load_settings(**json.loads(os.environ["SETTINGS_JSON"]))
app = create_app(settings)
with TestClient(app):
    llm = app.state.services.llm
    deadline = time.monotonic() + 30
    while llm.client is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.client is not None, "the openai client was never built"
    time.sleep(0.2)  # the freeze runs on the loop right after the load
    import openai
    print(json.dumps({"class_in_sight": any(o is openai.AsyncOpenAI for o in gc.get_objects())}))
"""


def test_openai_loaded_after_start_up_is_frozen_out_of_the_collector(deps):
    """The LLM client's import (~100k objects) comes after the start-up freeze; left in sight of
    the collector, every old-generation pass walked it (15-25 ms about once a second under load,
    which every request in flight waited for). A fresh interpreter, so openai is not imported yet."""
    import os
    import subprocess
    import sys

    values = {k.lower(): v for k, v in deps.env.items()}
    values["dashboard_api_key"] = secrets.token_urlsafe(20)
    done = subprocess.run([sys.executable, "-c", FROZEN_AFTER_LLM_LOAD], capture_output=True, text=True, timeout=90,
                          env={**os.environ, "SETTINGS_JSON": json.dumps(values)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"class_in_sight": False}
