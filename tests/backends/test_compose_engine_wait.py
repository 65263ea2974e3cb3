"""The compose backend's wait and status on the real Docker engine: a container that crashes or
stays unhealthy is exit 3 naming it with its last log lines (and, when unhealthy, the output of its
last healthcheck); `status` shows each container's restarts and uptime.

The small stacks use the locally built Debian base image (no host port, so no lock); the
full-stack case runs on free host ports under its own project. Skipped (with the reason) only when
no engine with Compose v2 answers or an image is absent.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from engine import engine_marks
from fakedocker import make_stack
from test_compose_engine import free_ports

from stagectl.backends.base import BackendContext
from stagectl.backends.compose import COMPOSE_FILE, ComposeBackend
from stagectl.config.loader import load_project
from stagectl.errors import ExitCode, UnhealthyError

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "stagectl-local/debian:bookworm"
pytestmark = engine_marks(IMAGE)


def _containers(project: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout.split()


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A backend factory over db, cache and api (api after both), each service's compose entry
    given by the test; removes the project afterwards."""
    monkeypatch.setenv("STAGECTL_COMPOSE_IMAGES", "upstream")  # the compose file names the image
    project = f"stagectl-wait-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "proj"
    (root / "compose").mkdir(parents=True)

    def make(services: dict[str, dict]) -> ComposeBackend:
        doc = {"services": {}}
        for name, deps in {"db": [], "cache": [], "api": ["db", "cache"]}.items():
            svc = {"image": IMAGE, "init": True, "restart": "no",
                   "command": ["sh", "-c", f"echo {name} booting; exec sleep infinity"],
                   "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "timeout": "1s", "retries": 2},
                   **services.get(name, {})}
            if deps:
                svc["depends_on"] = {d: {"condition": "service_healthy"} for d in deps}
            doc["services"][name] = svc
        (root / "compose" / COMPOSE_FILE).write_text(yaml.safe_dump(doc))
        ctx = BackendContext(stack=make_stack(project), env={}, root=root, state_dir=root / "state")
        return ComposeBackend(ctx, poll_interval=0.25)

    yield make, project
    subprocess.run(["docker", "compose", "-p", project, "-f", str(root / "compose" / COMPOSE_FILE),
                    "down", "--volumes", "--remove-orphans", "--timeout", "1"], capture_output=True)


def test_a_container_that_stays_unhealthy_is_exit_3_naming_it_with_its_logs_and_last_check(small):
    """Fault: a healthcheck that always fails. Docker's verdict `unhealthy` must end the wait at
    once (not at the deadline), name the service, show its log and what the check printed."""
    make, project = small
    backend = make({"db": {"command": ["sh", "-c", "echo db-log-marker-31; exec sleep infinity"],
                           "healthcheck": {"test": ["CMD", "sh", "-c", "echo check-said-no-47; exit 1"],
                                           "interval": "1s", "timeout": "1s", "retries": 2}}})
    began = time.monotonic()
    with pytest.raises(UnhealthyError) as err:
        backend.up(wait_timeout=90)
    elapsed = time.monotonic() - began
    assert err.value.exit_code == ExitCode.UNHEALTHY
    assert err.value.message.startswith("db: unhealthy: the engine's healthcheck failed its retries"), err.value.message
    assert "check-said-no-47" in err.value.message, "the last healthcheck's output"
    assert "last log lines of db:\n    db-log-marker-31" in err.value.message
    assert elapsed < 45, f"an unhealthy verdict must not wait for the deadline ({elapsed:.1f}s)"
    assert _containers(project) == [], "a failed up tears the stack down"


def test_a_dependency_crash_names_it_not_the_service_waiting_for_it(small):
    make, project = small
    backend = make({"cache": {"command": ["sh", "-c", "echo cache-dying-83; sleep 1; exit 7"]}})
    with pytest.raises(UnhealthyError) as err:
        backend.up(wait_timeout=90)
    assert err.value.message.startswith("cache: container exited with code 7"), err.value.message
    assert "cache-dying-83" in err.value.message
    assert _containers(project) == []


def test_status_shows_restarts_and_uptime_of_each_container(small):
    """A container that exits and is brought back by its restart policy: `status` counts the
    restart (RestartCount) and its uptime starts again (State.StartedAt)."""
    make, _project = small
    flapping = ["sh", "-c", "rm -f /tmp/die; echo cache up; while [ ! -f /tmp/die ]; do sleep 0.2; done; exit 3"]
    backend = make({"cache": {"command": flapping, "restart": "on-failure"}})
    backend.up(wait_timeout=90)
    before = {r.name: r for r in backend.status()}
    assert all(r.healthy and r.restarts == 0 and r.started_at is not None for r in before.values()), before
    assert all(0 <= time.time() - r.started_at < 90 for r in before.values())
    assert all(r.pid for r in before.values()), "the container's process id on the host"
    subprocess.run([*backend.docker.compose.docker_compose_cmd, "exec", "-T", "cache", "touch", "/tmp/die"],
                   check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while True:
        row = next(r for r in backend.status() if r.name == "cache")
        if row.restarts == 1 and row.healthy or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert row.restarts == 1 and row.healthy, row
    assert row.started_at is not None and row.started_at > before["cache"].started_at
    assert {r.name: r.restarts for r in backend.status()} == {"db": 0, "cache": 1, "api": 0}
    backend.down(volumes=True)


def test_a_set_that_breaks_a_service_of_the_real_stack_is_exit_3_naming_it(tmp_path):
    """Fault: `--set REDIS_MAXMEMORY_POLICY=…` with a policy Redis does not know: redis-server
    refuses its config and exits, its restart policy brings it back to fail again. `up` must stop
    at once with exit 3 naming redis with Redis's own complaint, and leave nothing running."""
    project = f"stagectl-waitstack-{uuid.uuid4().hex[:6]}"
    env_file = tmp_path / ".env.staging"
    shutil.copy(ROOT / ".env.staging.example", env_file)
    subprocess.run(["python", "-m", "stagectl", "--env-file", str(env_file), "init", "--force"], cwd=ROOT,
                   capture_output=True, check=False)
    overrides = {"COMPOSE_PROJECT_NAME": project, **free_ports(), "REDIS_MAXMEMORY_POLICY": "no-such-policy"}
    loaded = load_project(ROOT, env_file=env_file, overrides=overrides, allow_example=True)
    ctx = BackendContext(stack=loaded.stack, env=loaded.env, root=ROOT, state_dir=tmp_path / "state",
                         overrides=overrides, env_path=loaded.env_path)
    backend = ComposeBackend(ctx)
    backend.build_missing = False
    backend.preflight()
    began = time.monotonic()
    try:
        with pytest.raises(UnhealthyError) as err:
            backend.up(wait_timeout=180)
        assert err.value.exit_code == ExitCode.UNHEALTHY
        assert err.value.message.startswith("redis: container exited with code 1"), err.value.message
        assert "last log lines of redis:" in err.value.message
        assert "maxmemory-policy" in err.value.message, "Redis's own complaint, from its log"
        assert time.monotonic() - began < 60, "a crash ends the wait at once, not at the deadline"
        assert _containers(project) == []
    finally:
        ComposeBackend(dataclasses.replace(ctx)).down(volumes=True)


def test_status_and_watch_show_uptime_and_restarts_of_the_compose_stack(tmp_path):
    """`stagectl status` (JSON, table and --watch) under compose: every container's uptime and
    restart count, as under local; a policy restart shows in the next refresh."""
    import json
    import os
    import re
    import sys

    project = f"stagectl-waitcli-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'dashboard'}", "COLUMNS": "200"}
    env_file = tmp_path / ".env.staging"
    shutil.copy(ROOT / ".env.staging.example", env_file)
    cli = [sys.executable, "-m", "stagectl", "--env-file", str(env_file)]
    subprocess.run([*cli, "init", "--force"], cwd=ROOT, capture_output=True, check=True, env=env)
    sets = [arg for k, v in {"COMPOSE_PROJECT_NAME": project, **free_ports()}.items() for arg in ("--set", f"{k}={v}")]
    try:
        up = subprocess.run([*cli, *sets, "up", "--backend", "compose", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        # a policy restart of redis: the server exits from inside (`docker kill` would count as a
        # manual stop, which the policy leaves alone), `unless-stopped` brings it back
        subprocess.run(["docker", "exec", f"{project}-redis-1", "redis-cli", "shutdown", "nosave"], capture_output=True)
        deadline = time.monotonic() + 60
        while True:
            status = subprocess.run([*cli, *sets, "status", "--json"], cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=60)
            rows = {r["name"]: r for r in json.loads(status.stdout)["services"]}
            if rows["redis"]["restarts"] >= 1 and rows["redis"]["healthy"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert rows["redis"]["restarts"] >= 1 and rows["redis"]["healthy"], rows["redis"]
        running = {n: r for n, r in rows.items() if r["state"] != "skipped"}
        assert all(isinstance(r["uptime_s"], float) and r["uptime_s"] >= 0 for r in running.values()), running
        assert rows["redis"]["uptime_s"] < rows["postgres"]["uptime_s"], "redis started again, postgres did not"
        assert all(r["pid"] for r in running.values()), running
        watch = subprocess.run([*cli, *sets, "status", "--watch", "--count", "2", "--interval", "0.2"], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=60)
        assert watch.returncode == 0, watch.stderr
        redis_row = next(line for line in watch.stdout.splitlines() if re.search(r"\bredis\b.*\bhealthy\b", line))
        assert re.search(r"\b\d+(m\d\ds|s)\b", redis_row), f"uptime column: {redis_row!r}"
        assert re.search(rf"\s{rows['redis']['restarts']}\s", redis_row), f"restarts column: {redis_row!r}"
    finally:
        subprocess.run([*cli, *sets, "down", "--volumes"], cwd=ROOT, env=env, capture_output=True, timeout=180)
        subprocess.run(["docker", "compose", "-p", project, "down", "--volumes", "--remove-orphans"], capture_output=True)
