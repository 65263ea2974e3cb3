"""Hardening of the local backend against real processes: what the services run as, the modes of
their files, a redis.conf no password can inject into, no symlink followed where a private file
goes, Prometheus without its lifecycle API, and the dashboard's own unprivileged database role."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import redis

from stagectl.backends.local import datahome, privileges, runners
from stagectl.binaries import postgres_bindir
from stagectl.config.model import Service, Stack
from stagectl.errors import PreflightError
from stagectl.process import fork_detached, spawn, stop_group

REPO = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0
NEEDS_ROOT = pytest.mark.skipif(not AS_ROOT, reason="services change user only when stagectl runs as root")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def root(monkeypatch):
    path = Path(tempfile.mkdtemp(prefix="stagectl-harden-"))
    path.chmod(0o755)  # the service users must traverse it, as they traverse a real project
    system = path / "system"  # the project's service home as root (see datahome), not /var/lib
    system.mkdir(mode=0o755)
    monkeypatch.setenv(datahome.SYSTEM_ROOT_VAR, str(system))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def clone(root):
    """A project in a 0700 directory (like `git clone` into `mktemp -d`): no other user gets in."""
    project = root / "private" / "x"
    shutil.copytree(REPO / "dashboard", project / "dashboard", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (root / "private").chmod(0o700)
    return project


def context(root: Path, env: dict[str, str], **services: Service) -> runners.RunnerContext:
    return runners.RunnerContext(Stack(version=1, project="hard", services=services), env, root, root / ".stagectl")


def service(runner: str, **extra) -> Service:
    return Service(runner=runner, port=free_port(), container_port=1, healthcheck={"probe": "tcp"}, **extra)


def start(launch: runners.Launch, log: Path) -> subprocess.Popen:
    return spawn(launch.argv, env=launch.env, log_path=log, run_id="harden-test", cwd=launch.cwd, user=launch.user)


def wait_until(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, redis.RedisError, httpx.HTTPError, psycopg.OperationalError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(0.05)


def uid_of(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Uid:"))
    return int(line.split()[1])


# --- redis.conf ------------------------------------------------------------------------------------

INJECTING = ['pw with space', 'quote"then\nrequirepass owned', "nl\nport 1\nappendfilename x", "back\\slash\\x41'single"]


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed (apt-get install redis-server)")
@pytest.mark.parametrize("password", INJECTING)
def test_redis_password_cannot_inject_a_directive(root, password):
    svc = service("redis")
    ctx = context(root, {"REDIS_PASSWORD": password, "REDIS_APPENDONLY": "yes"}, redis=svc)
    launch = runners.build_launch("redis", svc, ctx)
    proc = start(launch, root / "logs" / "redis.log")
    try:
        client = redis.Redis(host="127.0.0.1", port=svc.port, password=password, socket_timeout=2)
        assert wait_until(client.ping), (root / "logs" / "redis.log").read_text()[-2000:]
        assert client.config_get("port")["port"] == str(svc.port)
        assert client.config_get("appendfilename")["appendfilename"] == "appendonly.aof"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=svc.port, password="owned", socket_timeout=2).ping()
        client.close()
    finally:
        stop_group(proc.pid, signal.SIGTERM, 5.0, reap=proc)


# --- private files ---------------------------------------------------------------------------------

def test_private_file_never_follows_a_planted_symlink(root):
    svc = service("redis")
    ctx = context(root, {"REDIS_PASSWORD": "secret-pw"}, redis=svc)
    victim = root / "victim"
    victim.write_text("untouched")
    conf = ctx.run_dir / "redis.conf"
    conf.parent.mkdir(parents=True)
    conf.symlink_to(victim)
    with pytest.raises(PreflightError, match="redis.conf"):
        runners.build_launch("redis", svc, ctx)
    assert victim.read_text() == "untouched"


def test_log_never_follows_a_planted_symlink(root):
    victim = root / "victim"
    victim.write_text("untouched")
    log = root / "logs" / "svc.log"
    log.parent.mkdir()
    log.symlink_to(victim)
    with pytest.raises(OSError):
        spawn([sys.executable, "-c", "print('leak')"], env={}, log_path=log, run_id="harden-test")
    assert victim.read_text() == "untouched"


def test_logs_and_service_files_are_private(root):
    """A service's log and everything it writes: 0600 files in 0700 folders."""
    log = root / "logs" / "svc.log"
    data = root / "data"
    data.mkdir()
    proc = spawn([sys.executable, "-c", "open('written', 'w').write('session'); print('hello')"],
                 env={}, log_path=log, run_id="harden-test", cwd=data)
    assert proc.wait(10) == 0
    assert (log.parent.stat().st_mode & 0o777, log.stat().st_mode & 0o777) == (0o700, 0o600)
    assert (data / "written").stat().st_mode & 0o777 == 0o600


def test_supervisor_log_is_private(root):
    log = root / "logs" / "supervisor.log"
    child = fork_detached(lambda: 0, title="stagectl harden test", log_path=log, env={})
    os.waitpid(child.pid, 0)
    assert (log.parent.stat().st_mode & 0o777, log.stat().st_mode & 0o777) == (0o700, 0o600)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed (apt-get install redis-server)")
def test_redis_data_dir_and_aof_are_private(root):
    svc = service("redis")
    ctx = context(root, {"REDIS_PASSWORD": "secret-pw", "REDIS_APPENDONLY": "yes"}, redis=svc)
    launch = runners.build_launch("redis", svc, ctx)
    proc = start(launch, ctx.state_dir / "logs" / "redis.log")
    try:
        client = redis.Redis(host="127.0.0.1", port=svc.port, password="secret-pw", socket_timeout=2)
        wait_until(client.ping)
        client.set("session:x", "token")
        files = wait_until(lambda: [p for p in ctx.data_dir("redis").rglob("*") if p.is_file()])
        client.close()
    finally:
        stop_group(proc.pid, signal.SIGTERM, 5.0, reap=proc)
    assert ctx.data_dir("redis").stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in files} == {p.name: 0o600 for p in files}
    assert (ctx.run_dir / "redis.conf").stat().st_mode & 0o777 == 0o600


# --- unprivileged services -------------------------------------------------------------------------

@NEEDS_ROOT
@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed (apt-get install redis-server)")
def test_redis_runs_as_the_service_user(root):
    svc = service("redis")
    ctx = context(root, {"REDIS_PASSWORD": "secret-pw", "REDIS_APPENDONLY": "yes"}, redis=svc)
    launch = runners.build_launch("redis", svc, ctx)
    proc = start(launch, ctx.state_dir / "logs" / "redis.log")
    try:
        client = redis.Redis(host="127.0.0.1", port=svc.port, password="secret-pw", socket_timeout=2)
        assert wait_until(client.ping), (ctx.state_dir / "logs" / "redis.log").read_text()[-2000:]
        client.close()
        entry = pwd.getpwnam(privileges.SERVICE_USER)
        assert uid_of(proc.pid) == entry.pw_uid != 0
        # its own group, not root's: `user=` alone changes only the uid
        assert psutil.Process(proc.pid).gids().effective == entry.pw_gid != 0
        assert not set(psutil.Process(proc.pid).gids()) & {0}
        assert ctx.data_dir("redis").stat().st_uid == entry.pw_uid
    finally:
        stop_group(proc.pid, signal.SIGTERM, 5.0, reap=proc)


@NEEDS_ROOT
@pytest.mark.parametrize("runner", ["prometheus", "postgres_exporter", "redis_exporter"])
def test_system_binaries_run_as_the_service_user(root, runner):
    svc = service(runner)
    others = {"postgres": service("postgres"), "redis": service("redis")}
    ctx = context(root, {"POSTGRES_PASSWORD": "pw", "REDIS_PASSWORD": "pw", "DASHBOARD_API_KEY": "k"}, svc=svc, **others)
    launch = runners.build_launch("svc", svc, ctx)
    if launch.argv[0].startswith("/root/"):
        pytest.skip(f"{runner} resolved under /root, which the service user cannot reach")
    assert launch.user == privileges.SERVICE_USER


def listener_ids(port: int) -> tuple[int, int]:
    """(uid, gid) of the process listening on `port`."""
    pid = next(c.pid for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port)
    return psutil.Process(pid).uids().effective, psutil.Process(pid).gids().effective


@NEEDS_ROOT
@pytest.mark.parametrize("runner", ["llm_stub", "moto"])
def test_python_services_run_as_the_service_user_from_a_private_clone(clone, runner):
    """Fault: a Python service whose interpreter (/root, 0700) or code (a 0700 clone) the service
    user cannot reach is started as root."""
    svc = service(runner)
    key = "sk-" + secrets.token_urlsafe(16)
    ctx = runners.RunnerContext(Stack(version=1, project="hard", services={runner: svc}), {"OPENAI_API_KEY": key},
                                clone, clone / ".stagectl" / "hard")
    launch = runners.build_launch(runner, svc, ctx)
    expected = pwd.getpwnam(privileges.SERVICE_USER).pw_uid
    assert launch.user == privileges.SERVICE_USER, (ctx.state_dir / "logs" / f"{runner}.log").read_text()
    assert not launch.argv[0].startswith(str(Path.home())) and str(clone) not in " ".join(launch.argv)
    assert key not in " ".join(launch.argv)  # the key goes in the environment, never on the command line
    proc = start(launch, ctx.state_dir / "logs" / f"{runner}.log")
    try:
        path, headers = ("/v1/models", {"Authorization": f"Bearer {key}"}) if runner == "llm_stub" else ("/", {})
        answer = wait_until(lambda: httpx.get(f"http://127.0.0.1:{svc.port}{path}", headers=headers, timeout=2), timeout=30)
        assert answer.status_code == 200, ((ctx.state_dir / "logs" / f"{runner}.log").read_text()[-2000:], answer.text[:300])
        entry = pwd.getpwnam(privileges.SERVICE_USER)
        assert listener_ids(svc.port) == (entry.pw_uid, entry.pw_gid) and 0 not in (entry.pw_uid, entry.pw_gid)
    finally:
        stop_group(proc.pid, signal.SIGTERM, 5.0, reap=proc)
    data = ctx.data_dir(runner)
    assert not data.is_relative_to(clone) and (data.stat().st_uid, data.stat().st_mode & 0o777) == (expected, 0o700)


@NEEDS_ROOT
def test_dashboard_runs_as_the_service_user_from_a_private_clone(clone):
    """The dashboard's launch: the service user, a runtime and code it can read, its JSON log in a
    0700 folder of its own outside the clone, secrets in the environment only."""
    dash, pg = service("dashboard"), service("postgres")
    env = {"POSTGRES_USER": "inventario", "POSTGRES_PASSWORD": "pg-" + secrets.token_urlsafe(12),
           "DASHBOARD_DB_USER": "inventario_app", "DASHBOARD_DB_PASSWORD": "app-" + secrets.token_urlsafe(12),
           "DASHBOARD_API_KEY": "key-" + secrets.token_urlsafe(12)}
    ctx = runners.RunnerContext(Stack(version=1, project="hard", services={"dashboard": dash, "postgres": pg}), env,
                                clone, clone / ".stagectl" / "hard")
    launch = runners.build_launch("dashboard", dash, ctx)
    assert launch.user == privileges.SERVICE_USER, (ctx.state_dir / "logs" / "dashboard.log").read_text()
    assert not any(value in " ".join(launch.argv) for value in env.values() if value.startswith(("pg-", "app-", "key-")))
    log_dir = Path(launch.env["LOG_FILE"]).parent
    expected = pwd.getpwnam(privileges.SERVICE_USER).pw_uid
    assert not log_dir.is_relative_to(clone) and (log_dir.stat().st_uid, log_dir.stat().st_mode & 0o777) == (expected, 0o700)
    # the very interpreter, path and code the supervisor starts, as that user: the app imports
    done = subprocess.run([launch.argv[0], "-c", "import inventario_dashboard.app, uvicorn.main; "
                           "print(inventario_dashboard.app.__file__)"], env=launch.env, cwd=launch.cwd,
                          user=launch.user, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not Path(done.stdout.strip()).is_relative_to(clone)


@NEEDS_ROOT
def test_no_readable_runtime_means_root_and_the_log_says_why(clone, root, monkeypatch):
    """Where no runtime can be made, the service still starts (as root, as before) and says why;
    the smoke check above then reports it."""
    from stagectl.backends.local import pyruntime

    blocker = root / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setattr(pyruntime, "RUNTIME_ROOT", str(blocker / "python"))
    pyruntime._shared_runtime.cache_clear()
    svc = service("llm_stub")
    ctx = runners.RunnerContext(Stack(version=1, project="hard", services={"llm": svc}), {"OPENAI_API_KEY": "k"},
                                clone, clone / ".stagectl" / "hard")
    try:
        launch = runners.build_launch("llm", svc, ctx)
    finally:
        pyruntime._shared_runtime.cache_clear()
    assert launch.user is None
    assert "stagectl: running as root: no Python runtime 'stagectl' can read" in (ctx.state_dir / "logs" / "llm.log").read_text()


@NEEDS_ROOT
def test_new_dashboard_code_gets_a_new_copy(clone):
    """Fault: the service user keeps running the copy of code the checkout has since changed."""
    from stagectl.backends.local import pyruntime

    apps = datahome.service_home(clone / ".stagectl" / "hard") / "app"
    package = clone / "dashboard" / "inventario_dashboard"
    first = pyruntime.publish_app(package, apps)
    (package / "llm_stub.py").write_text((package / "llm_stub.py").read_text() + "\n# changed\n")
    second = pyruntime.publish_app(package, apps)
    assert second != first and not first.exists()
    assert (second / "inventario_dashboard" / "llm_stub.py").read_text().endswith("# changed\n")


# --- Prometheus ------------------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus not installed (apt-get install prometheus)")
def test_prometheus_refuses_quit(root):
    svc = service("prometheus")
    ctx = context(root, {"DASHBOARD_API_KEY": "prom-key"}, prometheus=svc)
    launch = runners.build_launch("prometheus", svc, ctx)
    proc = start(launch, ctx.state_dir / "logs" / "prometheus.log")
    base = f"http://127.0.0.1:{svc.port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/-/ready", timeout=2).status_code == 200, timeout=60)
        answer = httpx.post(f"{base}/-/quit", timeout=5)
        assert answer.status_code == 403, answer.text
        time.sleep(0.5)
        assert proc.poll() is None and httpx.get(f"{base}/-/healthy", timeout=2).status_code == 200
        if AS_ROOT:
            assert uid_of(proc.pid) == pwd.getpwnam(privileges.SERVICE_USER).pw_uid
    finally:
        stop_group(proc.pid, signal.SIGTERM, 10.0, reap=proc)


# --- the dashboard's database role -----------------------------------------------------------------

@pytest.mark.skipif(postgres_bindir() is None, reason="no PostgreSQL binaries (postgres/initdb) found")
def test_dashboard_role_cannot_escalate(root, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    pg, dash = service("postgres", stop_signal="SIGINT"), service("dashboard")
    env = {"POSTGRES_USER": "inventario", "POSTGRES_DB": "inventario_staging", "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
           "DASHBOARD_DB_USER": "inventario_app", "DASHBOARD_DB_PASSWORD": "app-" + secrets.token_urlsafe(16)}
    ctx = context(root, env, postgres=pg, dashboard=dash)
    launch = runners.build_launch("postgres", pg, ctx)
    dashboard_env = runners.build_launch("dashboard", dash, ctx).env
    assert (dashboard_env["POSTGRES_USER"], dashboard_env["POSTGRES_PASSWORD"]) == (env["DASHBOARD_DB_USER"], env["DASHBOARD_DB_PASSWORD"])
    launch.prepare()
    proc = start(launch, ctx.state_dir / "logs" / "postgres.log")

    def connect(user: str, password: str) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=pg.port, user=user, password=password,
                               dbname=env["POSTGRES_DB"], connect_timeout=3, autocommit=True)
    try:
        app = wait_until(lambda: connect(env["DASHBOARD_DB_USER"], env["DASHBOARD_DB_PASSWORD"]))
        with app:
            for statement in ("create role evil login superuser", "select * from pg_authid",
                              "create table public.outside (id int)", "create database evil",
                              "create schema another"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(statement)
            app.execute("create table products (id int)")  # unqualified: lands in its own schema
            assert app.execute("select schemaname, tableowner from pg_tables where tablename = 'products'").fetchall() == [
                ("inventario_app", "inventario_app")]
        with connect(env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) as admin:  # sees it unqualified
            assert admin.execute("select count(*) from products").fetchone() == (0,)
    finally:
        stop_group(proc.pid, signal.SIGINT, 10.0, reap=proc)
    # a second start of the same cluster changes nothing and needs no single-user run
    launch.prepare()


def test_dashboard_needs_its_own_role(root):
    pg, dash = service("postgres"), service("dashboard")
    ctx = context(root, {"POSTGRES_USER": "inventario", "POSTGRES_PASSWORD": "pw"}, postgres=pg, dashboard=dash)
    with pytest.raises(PreflightError, match="DASHBOARD_DB_USER"):
        runners.build_launch("dashboard", dash, ctx)
    same = context(root, {"POSTGRES_USER": "inventario", "POSTGRES_PASSWORD": "pw", "DASHBOARD_DB_USER": "inventario",
                          "DASHBOARD_DB_PASSWORD": "x"}, postgres=pg, dashboard=dash)
    with pytest.raises(PreflightError, match="superuser"):
        runners.build_launch("dashboard", dash, same)


def test_dashboard_uvicorn_ignores_proxy_headers(root):
    dash = service("dashboard")
    argv = runners.build_launch("dashboard", dash, context(root, {}, dashboard=dash)).argv
    assert "--no-proxy-headers" in argv and "--proxy-headers" not in argv


def test_dashboard_serves_on_the_c_loop_and_parser_or_fails_to_start(root):
    """Named, not "auto": without uvloop/httptools in the runtime the start fails instead of
    quietly serving at about half the throughput (docs/performance.md)."""
    dash = service("dashboard")
    argv = runners.build_launch("dashboard", dash, context(root, {}, dashboard=dash)).argv
    assert argv[argv.index("--loop") + 1] == "uvloop" and argv[argv.index("--http") + 1] == "httptools"


# --- the live smoke check of the services' users ---------------------------------------------------

def run_user_check(services: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STAGECTL_TARGET_URL": "http://127.0.0.1:1", "DASHBOARD_API_KEY": "k",
           "STAGECTL_LOCAL_SERVICES": services}
    return subprocess.run([sys.executable, "-m", "pytest", str(REPO / "checks" / "smoke" / "test_least_privilege.py"),
                           "-k", "TestServiceUsers", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           "--rootdir", str(REPO / "checks" / "smoke")], env=env, capture_output=True, text=True, timeout=120)


@NEEDS_ROOT
@pytest.mark.parametrize("identity", ["root", "service user, root's group", "service user"])
def test_smoke_check_sees_a_service_running_as_root(root, identity):
    """The smoke check fails for a listener running as root or in root's group (the seeded
    faults), and passes for the service user's own identity."""
    port = free_port()
    privileges.ensure_service_user()
    entry = pwd.getpwnam(privileges.SERVICE_USER)
    uid, gid = {"root": (0, 0), "service user, root's group": (entry.pw_uid, 0),
                "service user": (entry.pw_uid, entry.pw_gid)}[identity]
    # it drops to uid:gid itself once started: stagectl's interpreter may sit where that user cannot go
    proc = subprocess.Popen([sys.executable, "-c", f"import os, socket, time; os.setgroups([]); os.setgid({gid}); "
                             f"os.setuid({uid}); s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"],
                            cwd="/", start_new_session=True)
    try:
        wait_until(lambda: any(c.laddr.port == port for c in psutil.net_connections(kind="tcp")
                               if c.status == psutil.CONN_LISTEN))
        done = run_user_check(f"seeded:{port}")
    finally:
        stop_group(proc.pid, signal.SIGTERM, 5.0, reap=proc)
    if identity == "service user":
        assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-2000:]
    else:
        user = "root" if uid == 0 else privileges.SERVICE_USER
        assert done.returncode == 1 and f"services running as root: {{'seeded': ('{user}', 'root'" in done.stdout, done.stdout[-2000:]
