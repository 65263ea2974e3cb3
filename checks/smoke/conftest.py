"""Fixtures of the live smoke suite.

The suite is pointed at a running stack by `stagectl smoke`, which passes the project's
variables plus `STAGECTL_TARGET_URL` (the dashboard), optionally `STAGECTL_API_KEY_ENV` (the
name of the variable holding the API key; `DASHBOARD_API_KEY` otherwise) and
`STAGECTL_DASHBOARD_LOG` (the dashboard's JSON log file).

`STAGECTL_TARGET_REMOTE=1` (`stagectl smoke --url`): the stack was not started by stagectl and is
reached through the dashboard's URL only. Every test marked `local_access("what it needs")` is then
skipped as "not applicable: remote target (needs …)", which the report counts on its own.
"""

from __future__ import annotations

import os
import uuid

import pytest

from stagectl.results import NOT_APPLICABLE

from ._support import SmokeConfig, config_from_environ, make_client, random_loopback, wait_for_level

LOCAL_ACCESS = "local_access"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{LOCAL_ACCESS}(what): the test needs more than the dashboard's URL "
                                       "(a service's own port, a fault, a log file); not applicable to a remote target")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("STAGECTL_TARGET_REMOTE") != "1":
        return
    for item in items:
        marker = item.get_closest_marker(LOCAL_ACCESS)
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"{NOT_APPLICABLE}remote target (needs {marker.args[0]})"))


@pytest.fixture(scope="session")
def cfg() -> SmokeConfig:
    config = config_from_environ()
    if not config.api_key:
        pytest.fail(f"{config.api_key_var} (the dashboard API key) is empty", pytrace=False)
    return config


@pytest.fixture(scope="session")
def main_source() -> str:
    """The source address of ordinary traffic: one fresh rate-limit budget per run."""
    return random_loopback()


@pytest.fixture(scope="session")
def api(cfg, main_source):
    """Client with the valid key in X-API-Key."""
    with make_client(cfg, source=main_source) as client:
        yield client


@pytest.fixture(scope="session")
def anon(cfg, main_source):
    """Client without any key."""
    with make_client(cfg, key=None, source=main_source) as client:
        yield client


@pytest.fixture
def optimal(cfg, api) -> dict:
    """The full /health once the stack is OPTIMAL (waits, bounded by the configured recovery time).

    A freshly started dashboard starts below OPTIMAL and needs DEGRADATION_RECOVERY_CHECKS
    evaluations to climb; a test that needs every feature waits for that, never longer.
    """
    return wait_for_level(api, "OPTIMAL", cfg.recovery_bound_s())


@pytest.fixture
def unique() -> str:
    """A short unique token for names this run creates (SKUs, files, request ids)."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def burst(cfg):
    """One window's worth of GET /api/inventory plus one, from a fresh source address (so no
    other test shares this budget). Shared by the rate-limit and security-header tests."""
    from ._support import RateLimitBurst

    with make_client(cfg, source=random_loopback()) as client:
        yield RateLimitBurst.run(client, cfg.int("DASHBOARD_RATELIMIT_REQUESTS"), cfg.int("DASHBOARD_RATELIMIT_WINDOW"))
