"""Shared helpers of the resilience-core unit tests: env isolation, a fake clock, settings."""

from __future__ import annotations

import os

import pytest

from inventario_dashboard.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests must not see the developer's or CI's environment variables."""
    fields = {name.upper() for name in Settings.model_fields}
    for key in list(os.environ):
        if key.upper() in fields:
            monkeypatch.delenv(key)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings():
    """load_settings with the test environment pinned (no .env file read)."""

    def make(**overrides):
        overrides.setdefault("environment", "test")
        return load_settings(_env_file=None, **overrides)

    return make
