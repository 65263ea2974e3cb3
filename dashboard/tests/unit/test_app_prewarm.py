"""stagectl's prewarm builds the app ahead of the go; uvicorn's factory call then gets that app."""

from __future__ import annotations

import pytest

from inventario_dashboard import app as app_module
from inventario_dashboard.settings import SettingsError


@pytest.fixture
def test_env(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setattr(app_module, "_prebuilt", [])


def test_the_factory_returns_the_prewarmed_app_once_then_builds_anew(test_env):
    app_module.prewarm()
    prewarmed = app_module._prebuilt[0]
    assert app_module.create_app() is prewarmed
    assert app_module._prebuilt == []
    assert app_module.create_app() is not prewarmed  # a second factory call (another worker) builds its own


def test_explicit_settings_never_take_the_prewarmed_app(test_env, make_settings):
    app_module.prewarm()
    built = app_module.create_app(make_settings())
    assert built is not app_module._prebuilt[0]


def test_prewarm_fails_loudly_on_bad_settings(monkeypatch):
    """A warm-up that cannot read its settings must crash (stagectl reports it), not wait."""
    monkeypatch.setattr(app_module, "_prebuilt", [])
    monkeypatch.setenv("ENVIRONMENT", "staging")  # staging refuses to start without an API key
    with pytest.raises(SettingsError, match="DASHBOARD_API_KEY"):
        app_module.prewarm()
    assert app_module._prebuilt == []
