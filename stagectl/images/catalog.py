"""The local images: what each one is built from and which services of the spec run it.

Every tag starts with `stagectl-local/` so a local build is never mistaken for (or pushed over) an
upstream image of the same name. All of them stand on one Debian bookworm base made here with
debootstrap (`images/base/make-base.sh`), because no registry answers to pull one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

LOCAL_PREFIX = "stagectl-local/"


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """One image. `context` is relative to the project root; `parent` names another ImageSpec."""

    name: str
    tag: str
    context: str
    parent: str | None = None  # built first; its tag is passed as the BASE_IMAGE build argument
    dockerfile: str = "Dockerfile"  # relative to `context`
    wheels: tuple[str, ...] = ()  # requirements built into wheels on the host (`pip wheel`)
    build_args: tuple[tuple[str, str], ...] = ()
    services: tuple[str, ...] = ()  # the spec's services that run this image
    rootfs_script: str | None = None  # the base: a script that imports a rootfs instead of a build
    context_files: tuple[str, ...] = ("",)  # what of `context` goes into the build (""= all of it)


CATALOG: tuple[ImageSpec, ...] = (
    ImageSpec("debian", LOCAL_PREFIX + "debian:bookworm", "images/base", rootfs_script="make-base.sh"),
    ImageSpec("python", LOCAL_PREFIX + "python:3.11-bookworm", "images/python", parent="debian"),
    ImageSpec("postgres", LOCAL_PREFIX + "postgres:15-bookworm", "images/postgres", parent="debian",
              services=("postgres",)),
    ImageSpec("redis", LOCAL_PREFIX + "redis:7-bookworm", "images/redis", parent="debian", services=("redis",)),
    ImageSpec("moto", LOCAL_PREFIX + "moto:5-bookworm", "images/moto", parent="python",
              wheels=("moto[server]>=5,<6", "boto3"), services=("s3",)),
    ImageSpec("prometheus", LOCAL_PREFIX + "prometheus:2-bookworm", "images/prometheus", parent="debian",
              services=("prometheus",)),
    ImageSpec("postgres-exporter", LOCAL_PREFIX + "postgres-exporter:bookworm", "images/postgres-exporter",
              parent="debian", services=("postgres-exporter",)),
    ImageSpec("redis-exporter", LOCAL_PREFIX + "redis-exporter:bookworm", "images/redis-exporter",
              parent="debian", services=("redis-exporter",)),
    # The dashboard's own Dockerfile on the local Python base; its wheels (the package and every
    # dependency, plus the build backend) come from the host, installed with --no-index.
    ImageSpec("dashboard", LOCAL_PREFIX + "inventario-dashboard:bookworm", "dashboard", parent="python",
              # async-timeout: redis needs it below Python 3.11.3 (Debian has 3.11.2, the host
              # resolving the wheels may be newer and would leave it out)
              wheels=("./dashboard", "setuptools>=68", "wheel", "async-timeout>=4.0.3"),
              build_args=(("PIP_INSTALL_ARGS", "--no-index"),),
              services=("llm", "dashboard"),
              context_files=("Dockerfile", "pyproject.toml", "inventario_dashboard", "wheels/README.md")),
)

BY_NAME = {spec.name: spec for spec in CATALOG}


def with_parents(names: Iterable[str]) -> list[ImageSpec]:
    """The named images and their ancestors, parents first, each once."""
    ordered: list[ImageSpec] = []

    def visit(name: str) -> None:
        spec = BY_NAME[name]
        if spec.parent:
            visit(spec.parent)
        if spec not in ordered:
            ordered.append(spec)

    for name in names:
        visit(name)
    return ordered


def images_for_services(services: Iterable[str]) -> dict[str, ImageSpec]:
    """service → the local image that runs it; services without one (grafana) are left out."""
    wanted = set(services)
    return {svc: spec for spec in CATALOG for svc in spec.services if svc in wanted}
