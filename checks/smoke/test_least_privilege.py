"""Least privilege on the live stack: the dashboard's database role can do nothing beyond its own
schema, a forwarded-for header from a local process does not change who the client is,
Prometheus' lifecycle API (POST /-/quit) is off, and no service of a local stack runs as root."""

from __future__ import annotations

import grp
import json
import os
import random

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


@pytest.mark.local_access("the dashboard's log file")
class TestProxyHeaders:
    def test_forwarded_for_from_loopback_is_not_the_client(self, cfg):
        """Fault: uvicorn started with its default --proxy-headers, which believes X-Forwarded-For
        from 127.0.0.1: every local process could pose as any client (new rate-limit identity)."""
        if cfg.dashboard_log is None:
            pytest.skip("no dashboard log file given (STAGECTL_DASHBOARD_LOG unset): the client address is read there")
        if cfg.env.get("STAGECTL_FORWARDED_FOR") == "1":
            # Docker's port proxy hides the client's address, so the compose stack's dashboard trusts
            # X-Forwarded-For from Docker's address pools: a forged header from the host is believed.
            # A known limitation of the compose backend (docs/backends.md), reported, never passed.
            pytest.skip("compose backend: the dashboard trusts X-Forwarded-For from Docker's port proxy "
                        "(known limitation, docs/backends.md)")
        rng = random.SystemRandom()
        forged, rid = f"10.9.{rng.randint(0, 255)}.{rng.randint(1, 254)}", f"smoke-xff-{rng.getrandbits(48):x}"
        with make_client(cfg, source="127.0.0.1") as client:
            client.get("/api/inventory", headers={"X-Forwarded-For": forged, cfg.require("REQUEST_ID_HEADER"): rid})

        def entry():
            lines = cfg.dashboard_log.read_text(encoding="utf-8", errors="replace").splitlines()
            found = [json.loads(line) for line in lines if rid in line]
            return found[-1] if found else None

        logged = wait_for(entry, 5, f"a log line with request id {rid}")
        assert logged["client_ip"] != forged, f"the forged X-Forwarded-For {forged} became the client address"


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


@pytest.mark.local_access("the processes of a stack the local backend started on this machine")
class TestServiceUsers:
    def test_no_service_runs_as_root(self, cfg):
        """Fault: a service of the local stack (the dashboard, the LLM stand-in, moto: a Python
        under /root, a checkout in a 0700 directory) was started as root, or kept root's group."""
        if os.geteuid() != 0:
            pytest.skip("stagectl does not run as root here: every service runs as the invoking user")
        listed = cfg.env.get("STAGECTL_LOCAL_SERVICES")
        if not listed:
            pytest.skip("not a stack of the local backend (STAGECTL_LOCAL_SERVICES unset): a container's "
                        "user is its image's (docs/backends.md)")
        services = dict(item.rsplit(":", 1) for item in listed.split(","))
        seen = {}
        for name, port in services.items():
            proc = _listener(int(port))
            assert proc is not None, f"{name}: nothing listens on port {port}"
            seen[name] = (proc.username(), grp.getgrgid(proc.gids().effective).gr_name, proc.pid, proc.name())
        as_root = {name: ids for name, ids in seen.items() if ids[0] == "root" or ids[1] == "root"}
        assert not as_root, f"services running as root: {as_root}"
