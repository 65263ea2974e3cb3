"""The typed stack spec (stagectl.yaml after interpolation). Backend-neutral: compose, local and a
future Kubernetes renderer all read the same model."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """'10s', '500ms', '1m', 2 or 2.5 → seconds as float. Compose's duration spelling."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 10s or 500ms")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration like 10s or 500ms, found {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]

ProbeKind = Literal["tcp", "http", "postgres", "redis", "s3", "prometheus", "exec"]
Runner = Literal[
    "postgres",
    "redis",
    "moto",
    "llm_stub",
    "dashboard",
    "prometheus",
    "postgres_exporter",
    "redis_exporter",
    "grafana",
    "command",
]


class SpecError(ValueError):
    """A cross-field problem of the spec, located by its key path (the loader maps it to a line)."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Healthcheck(_Strict):
    """How to tell the service is healthy. Field names follow Compose (and Kubernetes probes)."""

    probe: ProbeKind = Field(description="protocol-level probe the local wait engine uses")
    path: str | None = Field(None, description="HTTP path for http/s3/prometheus probes")
    command: list[str] | None = Field(None, description="argv for an exec probe")
    test: list[str] | None = Field(None, description="Compose healthcheck test (CMD / CMD-SHELL form)")
    interval: Duration = 10.0
    timeout: Duration = 5.0
    retries: int = Field(5, ge=1)
    start_period: Duration = 0.0
    start_interval: Duration = 0.05


class Resources(_Strict):
    memory: str = "512m"
    cpus: float = Field(1.0, gt=0)


class Service(_Strict):
    """One service of the stack."""

    description: str = ""
    runner: Runner = Field(description="how the local backend starts it")
    command: list[str] | None = Field(None, description="argv for runner 'command'")
    image: str | None = None
    build: str | None = Field(None, description="build context for compose (relative to repo)")
    port: int = Field(ge=1, le=65535, description="host port on 127.0.0.1")
    container_port: int = Field(ge=1, le=65535)
    publish: bool = Field(False, description="publish the port on the host under compose")
    optional: bool = Field(False, description="skipped (not failed) when its binary is missing")
    enabled: bool = True
    depends_on: list[str] = Field(default_factory=list)
    healthcheck: Healthcheck
    volumes: dict[str, str] = Field(default_factory=dict, description="named volume → mount path")
    environment: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Resources()
    stop_signal: Literal["SIGTERM", "SIGINT", "SIGQUIT"] = "SIGTERM"
    stop_grace_period: Duration = 10.0
    restart: Literal["no", "on-failure", "always", "unless-stopped"] = "unless-stopped"


class KubernetesTarget(_Strict):
    """`stagectl render --target kubernetes`: the kustomize layout and what it is validated against."""

    render_dir: str = Field("deploy/kubernetes", description="where the kustomize base and overlays are written")
    version: str = Field("1.31", pattern=r"^1\.\d+$", description="Kubernetes version the manifests are validated for")
    namespace: str = Field("inventario-staging", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    image_registry: str = Field("", description="prefix put before every image (e.g. registry.example.com/team); empty: as named")
    build_image_tag: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        description="tag of the images built here from `build:` (their names come from stagectl/images/catalog.py); "
                    "unset: the catalog's own tag, the one a local build produces")
    storage: dict[str, str] = Field(default_factory=dict, description="service → PVC size; these run as StatefulSets")

    @model_validator(mode="after")
    def _tag_is_not_latest(self) -> KubernetesTarget:
        # `latest` moves under a cluster that caches images: two nodes would run different code.
        if self.build_image_tag == "latest":
            raise SpecError(("kubernetes", "build_image_tag"), "`latest` is not a reproducible tag; name the build (e.g. staging)")
        return self


class Stack(_Strict):
    """The whole stack spec."""

    version: Literal[1]
    project: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    env_file: str = ".env.staging"
    env_example: str = ".env.staging.example"
    render_dir: str = "compose"
    state_dir: str = ".stagectl"
    network: str = "staging-network"
    services: dict[str, Service]
    kubernetes: KubernetesTarget = KubernetesTarget()

    @model_validator(mode="after")
    def _dependencies_exist_and_are_acyclic(self) -> Stack:
        for name, svc in self.services.items():
            for index, dep in enumerate(svc.depends_on):
                if dep not in self.services:
                    raise SpecError(
                        ("services", name, "depends_on", index),
                        f"unknown service {dep!r} (expected one of: {', '.join(sorted(self.services))})",
                    )
        self.start_order()  # raises on a cycle
        ports: dict[int, str] = {}
        for name, svc in self.services.items():
            if svc.port in ports:
                raise SpecError(("services", name, "port"), f"port {svc.port} is also used by service {ports[svc.port]!r}")
            ports[svc.port] = name
        return self

    def start_order(self) -> list[list[str]]:
        """Services in waves: each wave depends only on earlier waves (start a wave in parallel)."""
        remaining = {n: set(s.depends_on) for n, s in self.services.items()}
        waves: list[list[str]] = []
        done: set[str] = set()
        while remaining:
            wave = sorted(n for n, deps in remaining.items() if deps <= done)
            if not wave:
                stuck = sorted(remaining)
                raise SpecError(("services", stuck[0], "depends_on"), f"dependency cycle among {', '.join(stuck)}")
            waves.append(wave)
            done.update(wave)
            for n in wave:
                del remaining[n]
        return waves
