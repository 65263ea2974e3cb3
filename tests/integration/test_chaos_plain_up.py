"""`chaos` on a stack brought up with a plain `up` (issue 14 trap): the configured health interval
(10 s in the example) is too slow for chaos, which used to exit 2 and ask for
`--set HEALTH_CHECK_INTERVAL=1 up`. Now chaos switches the live interval through the dashboard's
authenticated admin endpoint for its run and puts the configured one back afterwards."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pytest

from stagectl.config.envfile import parse_env_file
from stagectl.config.newenv import render_env_file
from tests.integration.test_chaos_live import PORT_VARS, REPO, LiveStack, free_ports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plain_stack(tmp_path_factory):
    example = REPO / ".env.staging.example"
    text, _ = render_env_file(example.read_text(encoding="utf-8"), parse_env_file(example))
    env_file = tmp_path_factory.mktemp("chaos-plain-env") / ".env.staging"
    env_file.write_text(text, encoding="utf-8")
    env_file.chmod(0o600)
    ports = dict(zip(PORT_VARS, map(str, free_ports(len(PORT_VARS)))))
    sets = {"COMPOSE_PROJECT_NAME": f"chaos-plain-{os.getpid()}", **ports}  # no HEALTH_CHECK_INTERVAL
    stack = LiveStack(env_file, sets)
    try:
        up = stack.cli("up", "--wait-timeout", "90", "--json", timeout=150)
        assert up.returncode == 0, up.stderr[-2000:]
        yield stack
    finally:
        down = stack.cli("down", "--volumes", timeout=90)
        assert down.returncode == 0, down.stderr[-2000:]
        shutil.rmtree(REPO / ".stagectl" / sets["COMPOSE_PROJECT_NAME"], ignore_errors=True)


def _env(path) -> dict[str, str]:
    return {v.name: v.value for v in parse_env_file(path)}


def _interval(stack: LiveStack) -> dict:
    key = _env(stack.env_file)["DASHBOARD_API_KEY"]
    url = f"http://127.0.0.1:{stack.sets['DASHBOARD_PORT']}/admin/health-interval"
    response = httpx.get(url, headers={"X-API-Key": key}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_chaos_runs_on_a_plain_up_and_restores_the_interval(plain_stack):
    configured = float(_env(REPO / ".env.staging.example")["HEALTH_CHECK_INTERVAL"])
    assert configured > 2, "the example's interval is already fast: this test would prove nothing"
    assert _interval(plain_stack) == {"seconds": configured, "configured_seconds": configured}
    done = plain_stack.cli("chaos", "--scenario", "redis-down-cache-bypass", "--json", timeout=180)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    run = json.loads(done.stdout)
    assert run["summary"]["health_check_interval_s"] <= 1.5, run["summary"]
    assert [s["status"] for s in run["scenarios"]] == ["pass"]
    assert _interval(plain_stack)["seconds"] == configured  # put back: the stack runs as it was brought up


def test_admin_interval_needs_the_key(plain_stack):
    url = f"http://127.0.0.1:{plain_stack.sets['DASHBOARD_PORT']}/admin/health-interval"
    assert httpx.put(url, json={"seconds": 1}, timeout=5).status_code == 401
    assert httpx.put(url, json={"seconds": 1}, headers={"X-API-Key": "wrong"}, timeout=5).status_code == 401
