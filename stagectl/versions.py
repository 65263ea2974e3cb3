"""Versions of the services actually running, asked of the services themselves (for the report).

Each probe talks to the live service on its port; a service that does not answer gets
"unknown (<reason>)" — never a version we merely expect. Each runner's probe is named by its
record in stagectl/runners.py. The clients (httpx, psycopg, redis) are imported when a probe runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagectl.config.model import Service

TIMEOUT_S = 3.0
_BUILD_INFO = re.compile(r'_build_info\{[^}]*version="([^"]+)"')


def postgres(svc: Service, env: Mapping[str, str]) -> str:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=svc.port, user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"],
                         dbname=env["POSTGRES_DB"], connect_timeout=int(TIMEOUT_S)) as conn:
        row = conn.execute("show server_version").fetchone()
        if row is None:
            raise ValueError("show server_version returned no row")
        return "PostgreSQL " + str(row[0])


def redis(svc: Service, env: Mapping[str, str]) -> str:
    import redis as client_lib

    client = client_lib.Redis(host="127.0.0.1", port=svc.port, password=env.get("REDIS_PASSWORD") or None,
                         socket_timeout=TIMEOUT_S)
    try:
        info = client.info("server")
    finally:
        client.close()
    name = "Valkey" if "valkey_version" in info else "Redis"
    return f"{name} {info.get('valkey_version', info.get('redis_version'))}"


def prometheus(svc: Service, _env: Mapping[str, str]) -> str:
    import httpx

    data = httpx.get(f"http://127.0.0.1:{svc.port}/api/v1/status/buildinfo", timeout=TIMEOUT_S).raise_for_status().json()
    return "Prometheus " + data["data"]["version"]


def exporter(label: str) -> Callable[[Service, Mapping[str, str]], str]:
    def probe(svc: Service, _env: Mapping[str, str]) -> str:
        import httpx

        text = httpx.get(f"http://127.0.0.1:{svc.port}/metrics", timeout=TIMEOUT_S).raise_for_status().text
        match = _BUILD_INFO.search(text)
        if not match:
            raise ValueError("no *_build_info series in /metrics")
        return f"{label} {match.group(1)}"

    return probe


def moto(svc: Service, _env: Mapping[str, str]) -> str:
    import httpx

    httpx.get(f"http://127.0.0.1:{svc.port}/moto-api/", timeout=TIMEOUT_S).raise_for_status()
    # moto's server reports no version over HTTP; it runs from this Python environment's package.
    return f"moto {metadata.version('moto')} (installed package serving on :{svc.port})"


def dashboard(svc: Service, env: Mapping[str, str]) -> str:
    import httpx

    body = httpx.get(f"http://127.0.0.1:{svc.port}/health", headers={"X-API-Key": env["DASHBOARD_API_KEY"]},
                     timeout=TIMEOUT_S).raise_for_status().json()
    return f"inventario-dashboard {body['version']}"


def llm(svc: Service, env: Mapping[str, str]) -> str:
    import httpx

    headers = {"Authorization": f"Bearer {env['OPENAI_API_KEY']}"} if env.get("OPENAI_API_KEY") else {}
    models = httpx.get(f"http://127.0.0.1:{svc.port}/v1/models", headers=headers, timeout=TIMEOUT_S).raise_for_status().json()
    ids = ",".join(sorted(m["id"] for m in models.get("data", [])))
    return f"LLM stand-in {metadata.version('inventario-dashboard')} (models: {ids})"


def measure_versions(services: Mapping[str, Service], env: Mapping[str, str], running: set[str]) -> dict[str, str]:
    """service name → version string, for each running service (asked live)."""
    from stagectl.runners import RUNNERS

    out: dict[str, str] = {}
    for name in sorted(running):
        svc = services[name]
        runner = RUNNERS.get(svc.runner)
        probe = runner.version if runner is not None else None
        if probe is None:
            out[name] = "unknown (no version probe for this runner)"
            continue
        try:
            out[name] = probe(svc, env)
        except Exception as exc:  # noqa: BLE001 — a version we cannot read is reported, not fatal
            out[name] = f"unknown ({type(exc).__name__})"
    return out
