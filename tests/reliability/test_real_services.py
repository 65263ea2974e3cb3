"""The local backend with the real PostgreSQL, Redis, moto and Prometheus on free loopback ports:
data, auth, secrets off the command line, PDEATHSIG after a supervisor kill -9, data across down."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

from stagectl.backends.local.datahome import pg_home
from stagectl.backends.local.promconfig import config_dir
from tests.reliability.conftest import eventually, free_port

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(120)]

NEEDED = ("postgres", "initdb", "redis-server", "moto_server", "prometheus")


def _spec(project) -> dict:
    p = {n: free_port() for n in ("pg", "redis", "s3", "prom")}
    project.ports.update(p)
    hc = {"timeout": "3s", "start_period": "20s"}
    return {
        "postgres": {"runner": "postgres", "port": p["pg"], "container_port": 5432, "stop_signal": "SIGINT",
                     "healthcheck": {"probe": "postgres", **hc}},
        "redis": {"runner": "redis", "port": p["redis"], "container_port": 6379, "healthcheck": {"probe": "redis", **hc}},
        "s3": {"runner": "moto", "port": p["s3"], "container_port": 4566,
               "healthcheck": {"probe": "s3", "path": "/moto-api/", **hc}},
        "prometheus": {"runner": "prometheus", "port": p["prom"], "container_port": 9090, "depends_on": ["redis"],
                       "healthcheck": {"probe": "prometheus", "path": "/-/ready", **hc}},
    }


ENV = """POSTGRES_USER=inv
POSTGRES_DB=inv_db
POSTGRES_PASSWORD=pg-canary-secret-1
POSTGRES_MAX_CONNECTIONS=40
REDIS_PASSWORD=redis-canary-secret-2
REDIS_APPENDONLY=yes
REDIS_MAXMEMORY=64mb
REDIS_MAXMEMORY_POLICY=allkeys-lru
S3_BUCKET_NAME=bench-bucket
S3_CORS_ORIGINS=http://localhost:1
S3_LIFECYCLE_NONCURRENT_DAYS=7
AWS_ACCESS_KEY_ID=test-access-key
AWS_SECRET_ACCESS_KEY=aws-canary-secret-3
AWS_DEFAULT_REGION=us-east-1
DASHBOARD_API_KEY=dash-canary-secret-4
"""
CANARIES = ("pg-canary-secret-1", "redis-canary-secret-2", "aws-canary-secret-3", "dash-canary-secret-4")


@pytest.mark.skipif(not all(shutil.which(b) for b in NEEDED), reason=f"needs {', '.join(NEEDED)} on PATH")
def test_real_stack_up_data_pdeathsig_and_volumes(open_project):
    import boto3
    import psycopg
    import redis

    project = open_project
    project.write(_spec(project), env_text=ENV)
    up = project.run("up", "--json", "--wait-timeout", "60", timeout=90)
    assert up.code == 0, up.err
    ready = {s["name"]: s["ready_s"] for s in json.loads(up.out)["services"]}
    assert set(ready) == {"postgres", "redis", "s3", "prometheus"}
    for canary in CANARIES:
        assert canary not in up.out + up.err

    dsn = dict(host="127.0.0.1", port=project.ports["pg"], user="inv", password="pg-canary-secret-1", dbname="inv_db")
    with psycopg.connect(**dsn, autocommit=True) as conn:
        assert conn.execute("show max_connections").fetchone()[0] == "40"
        conn.execute("create table t (v int)")
        conn.execute("insert into t values (42)")
    with pytest.raises(psycopg.OperationalError):  # scram auth is on: a wrong password is refused
        psycopg.connect(**{**dsn, "password": "wrong"}, connect_timeout=3)
    r = redis.Redis(host="127.0.0.1", port=project.ports["redis"], password="redis-canary-secret-2")
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    r.close()
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{project.ports['s3']}", region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="y")
    assert "bench-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    state = project.state()
    pids = {n: rec["pid"] for n, rec in state["services"].items()}
    for name, pid in pids.items():  # secrets are never on a command line
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        assert not any(c in cmdline for c in CANARIES), name
    assert oct(os.stat(config_dir(project.state_dir) / "dashboard_api_key").st_mode & 0o777) == "0o600"

    os.kill(state["owner_pid"], signal.SIGKILL)  # the supervisor dies: PDEATHSIG takes the children
    eventually(lambda: not any(os.path.exists(f"/proc/{pid}") and
                               open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
                               for pid in pids.values()), timeout=5)
    status = project.run("status", "--json")
    assert [s["state"] for s in json.loads(status.out)["services"]] == ["stale"] * 4
    assert project.run("down").code == 0

    again = project.run("up", "--json", "--wait-timeout", "60", timeout=90)  # warm: no initdb, data kept
    assert again.code == 0, again.err
    with psycopg.connect(**dsn) as conn:
        assert conn.execute("select v from t").fetchone()[0] == 42
    cluster = pg_home(project.state_dir) / "data" / "postgres"
    assert (cluster / "PG_VERSION").is_file()  # plain `down` kept it
    assert project.run("down", "--volumes").code == 0
    assert not (project.state_dir / "data").exists() and not cluster.exists()


@pytest.mark.skipif(not all(shutil.which(b) for b in ("postgres", "initdb")), reason="needs postgres, initdb on PATH")
def test_a_failed_preparation_names_its_cause_in_the_error_and_the_service_log(open_project):
    """Fault: initdb (or the template copy) failing before the process exists, and the user being
    shown an empty "last log lines" with the cause nowhere in `stagectl logs postgres`."""
    project = open_project
    spec = _spec(project)
    project.write({"postgres": spec["postgres"]}, env_text=ENV)
    blocker = pg_home(project.state_dir) / "data" / "postgres"  # a file where the data directory must go
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory\n")
    blocker.chmod(0o755)  # passes the preflight's traversal check; fails only in the set-up itself
    up = project.run("up", "--wait-timeout", "30", timeout=60)
    assert up.code == 3, up.err
    assert "postgres: failed to start: [Errno 17] File exists" in up.err
    log = (project.state_dir / "logs" / "postgres.log").read_text()
    assert "stagectl: preparing postgres failed: FileExistsError: [Errno 17] File exists" in log
    assert "stagectl: preparing postgres failed" in up.err  # its log tail now carries the cause
    assert "pg-canary-secret-1" not in up.err + log
    assert blocker.read_text() == "not a directory\n"  # nothing of the user's was removed


@pytest.mark.skipif(os.geteuid() != 0, reason="the private-checkout case exists only as root (postgres runs as another user)")
@pytest.mark.skipif(not all(shutil.which(b) for b in ("postgres", "initdb")), reason="needs postgres, initdb on PATH")
def test_a_checkout_in_a_private_directory_runs_postgres_from_a_reachable_project_home(project):
    """Fault: a clone under a 0700 directory (root's home, `mktemp -d`) stopping at preflight and
    asking for a chmod on the user's home, or a cluster that `down` loses / `down --volumes` keeps."""
    import psycopg

    assert project.dir.stat().st_mode & 0o777 == 0o700 or project.dir.parent.stat().st_mode & 0o777 == 0o700
    spec = _spec(project)
    project.write({"postgres": spec["postgres"]}, env_text=ENV)
    up = project.run("up", "--wait-timeout", "60", timeout=90)
    assert up.code == 0, up.err
    home = pg_home(project.state_dir)
    cluster = home / "data" / "postgres"
    assert not home.is_relative_to(project.dir)
    assert (home / "project").read_text().strip() == str(project.state_dir.resolve())
    import pwd
    assert pwd.getpwuid(cluster.stat().st_uid).pw_name == "postgres" and cluster.stat().st_mode & 0o777 == 0o700
    dsn = dict(host="127.0.0.1", port=project.ports["pg"], user="inv", password="pg-canary-secret-1", dbname="inv_db")
    with psycopg.connect(**dsn, autocommit=True) as conn:
        conn.execute("create table kept (v int)")
        conn.execute("insert into kept values (7)")
    assert project.run("down").code == 0
    assert (cluster / "PG_VERSION").is_file()  # plain down keeps the data
    assert project.run("up", "--wait-timeout", "60", timeout=90).code == 0
    with psycopg.connect(**dsn) as conn:
        assert conn.execute("select v from kept").fetchone() == (7,)
    assert project.run("down", "--volumes").code == 0
    assert not cluster.exists()
    assert not list(project.dir.rglob("pg.pw")) and not list(home.rglob("*.pw"))  # the pwfile went away


@pytest.mark.skipif(os.geteuid() != 0, reason="the cluster moves out of the checkout only as root")
@pytest.mark.skipif(not all(shutil.which(b) for b in ("postgres", "initdb")), reason="needs postgres, initdb on PATH")
def test_a_cluster_in_the_old_place_inside_the_checkout_is_moved_not_lost(open_project):
    """Fault: after the data location moved, an existing project's database silently replaced by
    an empty one."""
    import psycopg

    project = open_project
    spec = _spec(project)
    project.write({"postgres": spec["postgres"]}, env_text=ENV)
    assert project.run("up", "--wait-timeout", "60", timeout=90).code == 0
    dsn = dict(host="127.0.0.1", port=project.ports["pg"], user="inv", password="pg-canary-secret-1", dbname="inv_db")
    with psycopg.connect(**dsn, autocommit=True) as conn:
        conn.execute("create table old_layout (v int)")
        conn.execute("insert into old_layout values (11)")
    assert project.run("down").code == 0
    cluster = pg_home(project.state_dir) / "data" / "postgres"
    legacy = project.state_dir / "data" / "postgres"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(cluster), str(legacy))  # the layout before the move
    assert project.run("up", "--wait-timeout", "60", timeout=90).code == 0
    with psycopg.connect(**dsn) as conn:
        assert conn.execute("select v from old_layout").fetchone() == (11,)
    assert (cluster / "PG_VERSION").is_file() and not legacy.exists()
    assert f"moved the cluster from {legacy} to {cluster}" in (project.state_dir / "logs" / "postgres.log").read_text()
    assert project.run("down", "--volumes").code == 0
