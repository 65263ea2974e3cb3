"""Every runner kind (`services.<name>.runner` in stagectl.yaml) in one record: where its executable
comes from, how the local backend launches it, how its version is asked, where Prometheus scrapes
it, and which dependency chaos breaks through it.

The local backend (launch, preflight), chaos (fault targets), the report's versions and the local
Prometheus config all read `RUNNERS`; a new runner kind is one record here plus its launch builder
in stagectl/backends/local/runners.py (docs/architecture.md, "Adding a runner").
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagectl import binaries, versions
from stagectl.binaries import APT, Resolution

if TYPE_CHECKING:
    from stagectl.config.model import Service

LAUNCHERS = "stagectl.backends.local.runners"  # the launch builders (imported when a stack starts)


@dataclasses.dataclass(frozen=True)
class Runner:
    """What stagectl knows about one runner kind."""

    name: str
    find: Callable[[Service, Path], Resolution]  # the executable, or why it is missing and its install command
    launch: str  # name of the local launch builder in LAUNCHERS: fn(name, svc, ctx, base_env) -> Launch
    version: Callable[[Service, Mapping[str, str]], str] | None = None  # asks the live service
    metrics_path: str | None = None  # Prometheus scrapes it here (the local config's built-in jobs)
    fault_role: str | None = None  # the dashboard dependency it provides, which chaos breaks (docs/contract.md §4)
    project_env: bool = False  # the process gets the project's variables (our own Python services)

    def launcher(self) -> Callable[..., Any]:
        """The local backend's launch builder for this runner."""
        return getattr(importlib.import_module(LAUNCHERS), self.launch)


RUNNERS: dict[str, Runner] = {r.name: r for r in (
    Runner("postgres", binaries.find_postgres, "_postgres", versions.postgres, fault_role="database"),
    Runner("redis", binaries.find_redis, "_redis", versions.redis, fault_role="redis"),
    Runner("moto", binaries.on_path("moto_server", reason="moto_server not found",
                                    install='pip install "moto[s3]" flask flask-cors'),
           "_moto", versions.moto, fault_role="s3"),
    Runner("prometheus", binaries.on_path("prometheus", reason="prometheus not found", install=f"{APT} prometheus"),
           "_prometheus", versions.prometheus),
    Runner("postgres_exporter",
           binaries.on_path("prometheus-postgres-exporter", "postgres_exporter",
                            reason="not available (prometheus-postgres-exporter not on PATH)",
                            install=f"{APT} prometheus-postgres-exporter"),
           "_postgres_exporter", versions.exporter("postgres_exporter"), metrics_path="/metrics"),
    Runner("redis_exporter",
           binaries.on_path("prometheus-redis-exporter", "redis_exporter",
                            reason="not available (prometheus-redis-exporter not on PATH)",
                            install=f"{APT} prometheus-redis-exporter"),
           "_redis_exporter", versions.exporter("redis_exporter"), metrics_path="/metrics"),
    Runner("grafana", binaries.on_path("grafana-server", "grafana", reason="not available (no grafana-server/grafana on PATH)",
                                       install="install Grafana from grafana.com (no apt/pip route)"),
           "_grafana"),
    Runner("dashboard", binaries.python_module("inventario_dashboard.app"), "_dashboard", versions.dashboard,
           metrics_path="/metrics", project_env=True),
    Runner("llm_stub", binaries.python_module("inventario_dashboard.llm_stub"), "_llm_stub", versions.llm,
           fault_role="openai", project_env=True),
    Runner("command", binaries.find_command, "_command"),
)}
FAULT_ROLES: tuple[str, ...] = tuple(r.fault_role for r in RUNNERS.values() if r.fault_role)


def service_for_role(services: Mapping[str, Service], role: str) -> str | None:
    """The name of the service whose runner provides dependency `role` (database, redis, s3, openai)."""
    return next((name for name, svc in services.items()
                 if (runner := RUNNERS.get(svc.runner)) is not None and runner.fault_role == role), None)
