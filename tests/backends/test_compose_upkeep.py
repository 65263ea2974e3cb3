"""What keeps a compose stack right across changes: the dashboard trusts exactly its network's
gateway, `up` rebuilds stale local images, and the PostgreSQL image puts the dashboard's role in
place on every start (an old volume gets it too). The engine tests skip without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from stagectl.backends.base import BackendContext
from stagectl.backends.compose import ComposeBackend, engine_answers
from stagectl.config.loader import load_project
from stagectl.images.select import ImageChoice
from stagectl.loopback import FORWARDED_FOR_ENV, name_source_in_header, source_headers

ROOT = Path(__file__).resolve().parents[2]
HOST_FILE = ROOT / "compose" / "docker-compose.host.yml"


# -- the client address behind Docker's port proxy ------------------------------------------------

def _dashboard_overlay() -> dict:
    return yaml.safe_load(HOST_FILE.read_text(encoding="utf-8"))["services"]["dashboard"]


def test_the_overlay_keeps_the_images_command():
    """Fault: the overlay's entry point (which clears the image's CMD) runs another command than
    dashboard/Dockerfile, e.g. one without --no-proxy-headers."""
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "dashboard" / "Dockerfile").read_text(), re.M)
    assert cmd, "dashboard/Dockerfile has no JSON CMD"
    assert _dashboard_overlay()["command"] == json.loads(cmd.group(1))
    assert "--no-proxy-headers" in _dashboard_overlay()["command"]


def test_the_dashboard_trusts_no_address_range():
    """Fault: a trust by range (uvicorn's FORWARDED_ALLOW_IPS over Docker's pools) believes every
    container on the machine."""
    dashboard = _dashboard_overlay()
    assert "FORWARDED_ALLOW_IPS" not in (dashboard.get("environment") or {})
    assert "FORWARDED_ALLOW_IPS" not in HOST_FILE.read_text(encoding="utf-8").split("name:", 1)[1]
    script = dashboard["entrypoint"][2]
    assert "/proc/net/route" in script and "DASHBOARD_TRUSTED_PROXIES" in script


def test_clients_name_their_source_only_behind_the_port_proxy(monkeypatch):
    monkeypatch.delenv(FORWARDED_FOR_ENV, raising=False)
    assert source_headers("127.3.4.5") == {}
    name_source_in_header(True)
    assert source_headers("127.3.4.5") == {"X-Forwarded-For": "127.3.4.5"}
    assert source_headers(None) == {}
    name_source_in_header(False)
    assert source_headers("127.3.4.5") == {} and FORWARDED_FOR_ENV not in os.environ


# -- stale local images ---------------------------------------------------------------------------

def _backend(tmp_path) -> ComposeBackend:
    project = load_project(ROOT, allow_example=True)
    ctx = BackendContext(stack=project.stack, env=project.env, root=ROOT, state_dir=tmp_path / "state")
    backend = ComposeBackend(ctx, client_call=["false"])  # never reaches an engine here
    backend.images = ImageChoice("local", "forced", {"redis": "stagectl-local/redis:7-bookworm"}, {})
    return backend


def test_up_builds_stale_images_not_only_missing_ones(tmp_path, monkeypatch):
    """Fault: `up` builds only when a tag is missing, so an image built from an older entry point
    or Dockerfile keeps running (found: an old PostgreSQL image without the role fix)."""
    import stagectl.images.build as build

    calls: list[list[str]] = []
    monkeypatch.setattr(build, "build_images", lambda services, root, **kw: calls.append(list(services)))
    backend = _backend(tmp_path)
    monkeypatch.setattr(backend, "_missing_images", lambda: [])  # every tag is there
    backend._build_stale_images(None)
    assert calls == [backend.services], "up must let the input hashes decide, not the tags' existence"
    monkeypatch.setattr(backend, "build_missing", False)
    backend._build_stale_images(None)
    assert len(calls) == 1, "build_missing=False builds nothing"


# -- PostgreSQL: the dashboard's role on every start ----------------------------------------------

_engine = engine_answers()
needs_engine = pytest.mark.skipif(_engine is not None, reason=f"no Docker engine: {_engine}")


def _psql(container: str, env: dict[str, str], user: str, sql: str) -> subprocess.CompletedProcess:
    # the password travels in the environment of `docker exec` (-e NAME), never in argv
    return subprocess.run(["docker", "exec", "-e", "PGPASSWORD", container, "psql", "-h", "127.0.0.1", "-U", user,
                           "-d", "stagedb", "-Atc", sql], capture_output=True, text=True, env={**os.environ, **env},
                          timeout=30)


def _start(name: str, volume: str, env: dict[str, str]) -> str:
    image = "stagectl-local/postgres:15-bookworm"
    names = [arg for k in env for arg in ("-e", k)]
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    started = subprocess.run(["docker", "run", "-d", "--name", name, "-v", f"{volume}:/var/lib/postgresql/data",
                              *names, image], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "exec", name, "pg_isready", "-h", "127.0.0.1", "-q"],
                         capture_output=True).returncode != 0:
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", name], capture_output=True, text=True)
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
        assert state.stdout.strip() == "running" and time.monotonic() < deadline, logs.stdout + logs.stderr
        time.sleep(0.3)
    return name


@pytest.mark.docker
@needs_engine
def test_an_old_volume_gets_the_dashboards_role(tmp_path):
    """Fault: the entry point creates the role (and sets passwords) on a fresh volume only; a volume
    initialised before, or under other secrets, leaves the dashboard (or the exporter) unable to log in."""
    from stagectl.images import build_images

    build_images(["postgres"], ROOT)  # the image of this checkout (a cache hit when current)
    tag = secrets.token_hex(4)
    volume, name = f"stagectl-pgtest-{tag}", f"stagectl-pgtest-{tag}"
    base = {"POSTGRES_USER": "stageadmin", "POSTGRES_PASSWORD": secrets.token_hex(12), "POSTGRES_DB": "stagedb"}
    app = {"DASHBOARD_DB_USER": "appuser", "DASHBOARD_DB_PASSWORD": secrets.token_hex(12)}
    try:
        _start(name, volume, base)  # an old volume: made without the dashboard's role
        assert _psql(name, {"PGPASSWORD": base["POSTGRES_PASSWORD"]}, "stageadmin",
                     "select count(*) from pg_roles where rolname = 'appuser'").stdout.strip() == "0"
        # a restart with the role's configuration, then one with new secrets (`stagectl init --force`)
        for password, admin in ((app["DASHBOARD_DB_PASSWORD"], base["POSTGRES_PASSWORD"]),
                                (secrets.token_hex(12), secrets.token_hex(12))):
            _start(name, volume, {**base, **app, "DASHBOARD_DB_PASSWORD": password, "POSTGRES_PASSWORD": admin})
            as_admin = _psql(name, {"PGPASSWORD": admin}, "stageadmin", "select 1")
            assert as_admin.stdout.strip() == "1", as_admin.stderr
            who = _psql(name, {"PGPASSWORD": password}, "appuser",
                        "select current_user, rolsuper, rolcreaterole, rolcreatedb, "
                        "(select nspowner::regrole::text from pg_namespace where nspname = 'appuser') "
                        "from pg_roles where rolname = current_user")
            assert who.returncode == 0, who.stderr
            assert who.stdout.strip() == "appuser|f|f|f|appuser"
            refused = _psql(name, {"PGPASSWORD": password}, "appuser", "create table public.outside (id int)")
            assert refused.returncode != 0 and "permission denied" in refused.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)
