"""The compose backend against the real Docker engine with the images built here.

Skipped (with the reason) only when no engine with Compose v2 answers. Brings the whole stack up
on free host ports under its own compose project, so it holds the e2e lock for its duration.
"""

from __future__ import annotations

import dataclasses
import fcntl
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from engine import engine_marks

from stagectl.backends.base import BackendContext
from stagectl.backends.compose import ComposeBackend
from stagectl.config.loader import load_project
from stagectl.errors import PreflightError
from stagectl.images import CATALOG, build_images

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "stagectl-enginetest"
pytestmark = engine_marks()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports() -> dict[str, str]:
    """A free host port for every port variable of the spec (the host overlay publishes them all)."""
    from stagectl.render.context import _port_vars

    return {var: str(free_port()) for var in _port_vars(ROOT / "stagectl.yaml").values()}


def _containers(project: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout.split()


def test_down_without_flags_cleans_up_after_up_was_killed(tmp_path):
    """Fault: `kill -9` of stagectl during `up --backend compose` leaves containers that a later
    `down` (no --backend: the state says compose) does not find."""
    import os
    import signal
    import sys

    project = "stagectl-killtest"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'dashboard'}"}
    env_file = tmp_path / ".env.staging"
    shutil.copy(ROOT / ".env.staging.example", env_file)
    cli = [sys.executable, "-m", "stagectl", "--env-file", str(env_file)]
    subprocess.run([*cli, "init", "--force"], cwd=ROOT, capture_output=True, check=True, env=env)
    sets = [arg for k, v in {"COMPOSE_PROJECT_NAME": project, **free_ports()}.items() for arg in ("--set", f"{k}={v}")]
    with open("/tmp/stagectl-e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up = subprocess.Popen([*cli, *sets, "up", "--backend", "compose", "--json"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            # compose has started every container (the dashboard last): stagectl is in its wait
            while not any("dashboard" in n for n in subprocess.run(
                    ["docker", "ps", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={project}"],
                    capture_output=True, text=True).stdout.split()):
                assert up.poll() is None and time.monotonic() < deadline, "up ended or never started the dashboard"
                time.sleep(0.5)
            os.kill(up.pid, signal.SIGKILL)
            up.wait()
            assert _containers(project), "the killed up left containers (else this test proves nothing)"
            down = subprocess.run([*cli, "--set", f"COMPOSE_PROJECT_NAME={project}", "down", "--volumes"], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=120)
            assert down.returncode == 0, down.stdout + down.stderr
            assert _containers(project) == []
            volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                                     capture_output=True, text=True).stdout.split()
            assert volumes == [], "down --volumes removes the project's volumes"
        finally:
            if up.poll() is None:
                up.kill()
            subprocess.run(["docker", "compose", "-p", project, "down", "--volumes", "--remove-orphans"],
                           capture_output=True)


def test_local_image_tags_in_the_overlay_equal_the_catalog():
    text = (ROOT / "compose" / "docker-compose.local-images.yml").read_text()
    for spec in CATALOG:
        if spec.services:
            assert f"image: {spec.tag}" in text, spec.tag
        assert spec.tag.startswith("stagectl-local/"), spec.tag


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    build_images([s for s in ("postgres", "redis", "s3", "llm", "dashboard", "prometheus",
                              "postgres-exporter", "redis-exporter")], ROOT)
    tmp = tmp_path_factory.mktemp("envs")
    env_file = tmp / ".env.staging"
    shutil.copy(ROOT / ".env.staging.example", env_file)
    subprocess.run(["python", "-m", "stagectl", "--env-file", str(env_file), "init", "--force"], cwd=ROOT,
                   capture_output=True, check=False)
    overrides = {"COMPOSE_PROJECT_NAME": PROJECT, **free_ports()}
    project = load_project(ROOT, env_file=env_file if env_file.is_file() else None, overrides=overrides, allow_example=True)
    ctx = BackendContext(stack=project.stack, env=project.env, root=ROOT, state_dir=tmp / "state",
                         overrides=overrides, env_path=project.env_path)
    with open("/tmp/stagectl-e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        b = ComposeBackend(ctx)
        yield b
        ComposeBackend(ctx).down(volumes=True)  # a fresh object: `down` removed b's --set env file


def test_up_is_healthy_with_the_bucket_and_down_removes_everything(backend):
    skipped = backend.preflight()
    assert skipped == {"grafana": "no local image (no Debian package to build it from)"}
    progress: list[dict] = []
    result = backend.up(wait_timeout=180, on_progress=progress.append)
    assert {s.name for s in result.services if s.healthy} == set(backend.services)
    assert progress and all("phase" in rec for rec in progress[-1]["services"].values())
    port = backend.ctx.overrides["DASHBOARD_PORT"]
    # The dashboard is live before its first round of dependency probes has been scored: give it
    # two probe intervals to report OPTIMAL with all four dependencies up.
    key = backend.ctx.env["DASHBOARD_API_KEY"]
    deadline = time.monotonic() + 2 * float(backend.ctx.env.get("HEALTH_CHECK_INTERVAL", "10")) + 5
    while True:
        report = httpx.get(f"http://127.0.0.1:{port}/health", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
        if report["degradation_level"] == "OPTIMAL" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert report["degradation_level"] == "OPTIMAL", report
    assert {n: s["status"] for n, s in report["services"].items()} == dict.fromkeys(("database", "openai", "redis", "s3"), "up")
    logs = subprocess.run(["docker", "compose", "-p", PROJECT, "logs", "s3-init"], capture_output=True, text=True)
    assert "create bucket" in logs.stdout or "created" in logs.stdout, logs.stdout
    labels = subprocess.run(["docker", "network", "ls", "--filter", f"label=org.stagectl.project={PROJECT}", "-q"],
                            capture_output=True, text=True).stdout.split()
    assert len(labels) == 2
    down = backend.down(volumes=False)
    assert down.leftovers == []
    left = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                          capture_output=True, text=True).stdout.split()
    assert left == []
    kept = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=org.stagectl.project={PROJECT}"],
                          capture_output=True, text=True).stdout.split()
    assert kept, "down without --volumes must keep the volumes"


def test_missing_local_image_is_a_preflight_error_naming_the_build_command(backend, monkeypatch):
    tags = {**backend.images.tags, "postgres": "stagectl-local/absent:never"}
    monkeypatch.setattr(backend, "images", dataclasses.replace(backend.images, tags=tags))
    monkeypatch.setattr(backend, "build_missing", False)
    with pytest.raises(PreflightError) as err:
        backend.preflight()
    assert "stagectl-local/absent:never" in err.value.message
    assert "stagectl build" in (err.value.hint or "")


def test_a_failing_bucket_set_up_is_exit_3_naming_s3_init(backend):
    """Fault: init-s3.sh refuses S3_LIFECYCLE_NONCURRENT_DAYS=0 and exits 1; the dashboard never starts."""
    from stagectl.errors import UnhealthyError

    overrides = {**backend.ctx.overrides, "S3_LIFECYCLE_NONCURRENT_DAYS": "0"}
    ctx = dataclasses.replace(backend.ctx, overrides=overrides, env={**backend.ctx.env, **overrides})
    broken = ComposeBackend(ctx)
    with pytest.raises(UnhealthyError) as err:
        broken.up(wait_timeout=120)
    assert err.value.exit_code == 3
    assert err.value.message.startswith("s3-init: the S3 bucket set-up exited with code 1"), err.value.message
    assert "S3_LIFECYCLE_NONCURRENT_DAYS must be at least 1" in err.value.message
    left = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                          capture_output=True, text=True).stdout.split()
    assert left == [], "a failed up tears the stack down"
