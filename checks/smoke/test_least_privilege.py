"""Least privilege on the live stack: the dashboard's database role can do nothing beyond its own
schema, a forwarded-for header from anyone but the trusted proxy (none locally; under compose the
port proxy's gateway, so the header comes from a peer container) does not change who the client is,
Prometheus' lifecycle API (POST /-/quit) is off, and no service of a local stack runs as root."""

from __future__ import annotations

import grp
import json
import os
import random
import subprocess

import httpx
import psutil
import psycopg
import pytest

from ._support import make_client, wait_for


def _connect(cfg, user_var: str, password_var: str) -> psycopg.Connection:
    return psycopg.connect(host=cfg.require("POSTGRES_HOST"), port=cfg.int("POSTGRES_PORT"),
                           user=cfg.require(user_var), password=cfg.require(password_var),
                           dbname=cfg.require("POSTGRES_DB"), connect_timeout=5, autocommit=True)


@pytest.mark.local_access("a direct connection to PostgreSQL as the superuser and as the dashboard's role")
class TestDatabaseRole:
    def test_dashboard_connects_as_its_own_role(self, cfg, optimal):
        """Fault: the dashboard logs in as the cluster superuser (POSTGRES_USER)."""
        with _connect(cfg, "POSTGRES_USER", "POSTGRES_PASSWORD") as conn:
            rows = conn.execute("select distinct a.usename, r.rolsuper, r.rolcreaterole, r.rolcreatedb "
                                "from pg_stat_activity a join pg_roles r on r.rolname = a.usename "
                                "where a.application_name = 'inventario-dashboard'").fetchall()
        assert rows, "no connection of the dashboard (application_name inventario-dashboard) is open"
        assert rows == [(cfg.require("DASHBOARD_DB_USER"), False, False, False)], rows

    @pytest.mark.parametrize("statement", [
        "create role smoke_escalation login superuser",
        "select rolpassword from pg_authid limit 1",
        "create table public.smoke_outside_its_schema (id int)",
        "create database smoke_escalation",
    ])
    def test_dashboard_role_is_refused(self, cfg, statement):
        """Fault: the dashboard's role may create roles, read password hashes, or write outside its schema."""
        with _connect(cfg, "DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD") as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)

    def test_dashboard_role_owns_its_tables(self, cfg, optimal):
        """Fault: the tables live in a schema the dashboard's role does not own (it could not migrate them)."""
        with _connect(cfg, "DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD") as conn:
            owners = dict(conn.execute("select tablename, tableowner from pg_tables "
                                       "where tablename in ('products', 'stock_movements')").fetchall())
        assert owners == {"products": cfg.require("DASHBOARD_DB_USER"), "stock_movements": cfg.require("DASHBOARD_DB_USER")}


# Run inside a peer container (compose): each forged X-Forwarded-For in turn, the key from stdin
# (never in argv); prints status and rate-limit headers of every answer as JSON.
PEER_PROBE = """
import json, sys, urllib.error, urllib.request
job = json.load(sys.stdin)
answers = []
for forged, rid in job["sends"]:
    headers = {"X-API-Key": job["key"], "X-Forwarded-For": forged, job["rid_header"]: rid}
    request = urllib.request.Request(job["url"] + "/api/inventory?limit=1", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, got = answer.status, answer.headers
    except urllib.error.HTTPError as error:
        status, got = error.code, error.headers
    answers.append({"status": status, "remaining": got.get("X-RateLimit-Remaining"),
                    "reset": got.get("X-RateLimit-Reset")})
print(json.dumps(answers))
"""


def _forged_address(rng: random.Random) -> str:
    return f"10.9.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _logged_client(cfg, rid: str) -> str:
    def entry():
        lines = cfg.dashboard_log.read_text(encoding="utf-8", errors="replace").splitlines()
        found = [json.loads(line) for line in lines if rid in line]
        return found[-1] if found else None

    return wait_for(entry, 5, f"a log line with request id {rid}")["client_ip"]


def _from_peer(cfg, peer: dict, sends: list[tuple[str, str]]) -> list[dict]:
    """Send `sends` (forged address, request id) from the peer container; its answers."""
    job = {"url": peer["url"], "key": cfg.api_key, "rid_header": cfg.require("REQUEST_ID_HEADER"), "sends": sends}
    done = subprocess.run([*peer["exec"], "python", "-c", PEER_PROBE], input=json.dumps(job), text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, f"the probe in the {peer['service']} container failed: {done.stderr[-800:]}"
    return json.loads(done.stdout)


@pytest.mark.local_access("the dashboard's log file")
class TestProxyHeaders:
    def test_forwarded_for_from_loopback_is_not_the_client(self, cfg):
        """Fault (local): uvicorn started with its default --proxy-headers, which believes
        X-Forwarded-For from 127.0.0.1: every local process could pose as any client.
        Fault (compose): the dashboard believes X-Forwarded-For from more than its network's gateway
        (uvicorn's proxy headers for Docker's pools, or a peer in DASHBOARD_TRUSTED_PROXIES): any
        container of the stack could pose as any client (a new rate-limit identity per request)."""
        if cfg.dashboard_log is None:
            pytest.skip("no dashboard log file given (STAGECTL_DASHBOARD_LOG unset): the client address is read there")
        rng = random.SystemRandom()
        peer = json.loads(cfg.env["STAGECTL_PEER"]) if cfg.env.get("STAGECTL_PEER") else None
        if peer is None:
            forged, rid = _forged_address(rng), f"smoke-xff-{rng.getrandbits(48):x}"
            with make_client(cfg, source="127.0.0.1") as client:
                client.get("/api/inventory", headers={"X-Forwarded-For": forged, cfg.require("REQUEST_ID_HEADER"): rid})
            client_ip = _logged_client(cfg, rid)
            assert client_ip != forged, f"the forged X-Forwarded-For {forged} became the client address"
            return
        # Behind Docker's port proxy the host's clients arrive from the gateway, which is trusted;
        # another container of the stack is not the gateway: neither its log address nor its
        # rate-limit identity may follow a header it makes up.
        for _ in range(3):  # a rate-limit window may end between the two requests: try again
            sends = [(_forged_address(rng), f"smoke-xff-{rng.getrandbits(48):x}") for _ in range(2)]
            first, second = _from_peer(cfg, peer, sends)
            assert first["status"] == 200 and second["status"] == 200, (first, second)
            if int(second["reset"]) <= int(first["reset"]):
                break
        else:
            pytest.fail("three rate-limit windows ended between two requests; cannot compare them", pytrace=False)
        client_ip = _logged_client(cfg, sends[0][1])
        assert client_ip != sends[0][0], f"the forged X-Forwarded-For {sends[0][0]} became the client address"
        assert int(second["remaining"]) < int(first["remaining"]), (
            f"a second forged X-Forwarded-For from the {peer['service']} container got a fresh rate-limit "
            f"budget ({first['remaining']} then {second['remaining']} left): the header made a new client")


@pytest.mark.local_access("the stack's Prometheus on this machine")
class TestPrometheusLifecycle:
    def test_quit_is_refused(self, cfg):
        """Fault: Prometheus started with --web.enable-lifecycle (any local user may stop it)."""
        base = f"http://127.0.0.1:{cfg.int('PROMETHEUS_PORT')}"
        answer = httpx.post(f"{base}/-/quit", timeout=5)
        assert answer.status_code == 403, (answer.status_code, answer.text[:200])
        assert httpx.get(f"{base}/-/healthy", timeout=5).status_code == 200


def _listener(port: int) -> psutil.Process | None:
    """The process listening on 127.0.0.1:`port` (root sees every process's sockets)."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


@pytest.mark.local_access("the processes (or containers) of a stack stagectl started on this machine")
class TestServiceUsers:
    def test_no_service_runs_as_root(self, cfg):
        """Fault: a service of the local stack (the dashboard, the LLM stand-in, moto: a Python
        under /root, a checkout in a 0700 directory) was started as root, or kept root's group; under
        compose, an image without a USER (its process runs as uid 0)."""
        containers = cfg.env.get("STAGECTL_CONTAINER_PIDS")
        listed = cfg.env.get("STAGECTL_LOCAL_SERVICES")
        seen = {}
        if containers:  # compose: each container's main process, as this host sees it
            for name, pid in (item.rsplit(":", 1) for item in containers.split(",")):
                proc = psutil.Process(int(pid))
                seen[name] = (proc.uids().effective, proc.gids().effective, proc.pid, proc.name())
            as_root = {name: ids for name, ids in seen.items() if ids[0] == 0 or ids[1] == 0}
            assert not as_root, f"containers whose process runs as uid or gid 0: {as_root}"
            return
        if os.geteuid() != 0:
            pytest.skip("stagectl does not run as root here: every service runs as the invoking user")
        if not listed:
            pytest.skip("neither a local stack's services (STAGECTL_LOCAL_SERVICES) nor a compose stack's "
                        "containers (STAGECTL_CONTAINER_PIDS) were given")
        services = dict(item.rsplit(":", 1) for item in listed.split(","))
        for name, port in services.items():
            proc = _listener(int(port))
            assert proc is not None, f"{name}: nothing listens on port {port}"
            seen[name] = (proc.username(), grp.getgrgid(proc.gids().effective).gr_name, proc.pid, proc.name())
        as_root = {name: ids for name, ids in seen.items() if ids[0] == "root" or ids[1] == "root"}
        assert not as_root, f"services running as root: {as_root}"
