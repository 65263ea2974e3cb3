"""What each image the stack runs provides on its PATH: the executables a compose healthcheck may
call. Declared per image repository (the tag does not change a base's tool set here).

Where the facts come from: the upstream images' bases (Alpine and BusyBox give `sh`, `wget`,
`grep`; `oliver006/redis_exporter` is FROM scratch and has its binary only; the python-slim
bases have `python`/`python3` and no `curl` or `wget`), and for `stagectl-local/*` the Dockerfiles
in images/ (a debootstrap Debian: `sh`, `bash`, `grep`, no `curl`/`wget` unless installed there).
A new image is unknown until it is declared here: the check then fails and says so.
"""

from __future__ import annotations

_BUSYBOX = frozenset({"sh", "wget", "grep", "test", "cat", "nc"})
_DEBIAN = frozenset({"sh", "bash", "grep", "test", "cat"})
_PYTHON_SLIM = _DEBIAN | {"python", "python3", "pip"}

PROVIDES: dict[str, frozenset[str]] = {
    # upstream images (compose/docker-compose.staging.yml)
    "postgres": _BUSYBOX | {"pg_isready", "psql", "postgres"},
    "redis": _BUSYBOX | {"redis-cli", "redis-server"},
    "motoserver/moto": _PYTHON_SLIM | {"moto_server"},
    "python": _PYTHON_SLIM,  # the dashboard's Dockerfile base (python:3.11-slim)
    "prometheuscommunity/postgres-exporter": _BUSYBOX | {"postgres_exporter", "/bin/postgres_exporter"},
    "oliver006/redis_exporter": frozenset({"/redis_exporter"}),
    "prom/prometheus": _BUSYBOX | {"prometheus", "promtool", "/bin/prometheus"},
    "grafana/grafana": _BUSYBOX | {"grafana", "grafana-server", "grafana-cli"},
    # images built here (images/*/Dockerfile, dashboard/Dockerfile on the local python base)
    "stagectl-local/postgres": _DEBIAN | {"pg_isready", "psql"},
    "stagectl-local/redis": _DEBIAN | {"redis-cli", "redis-server"},
    "stagectl-local/moto": _PYTHON_SLIM | {"moto_server"},
    "stagectl-local/inventario-dashboard": _PYTHON_SLIM | {"uvicorn"},
    "stagectl-local/postgres-exporter": _DEBIAN | {"wget", "prometheus-postgres-exporter"},
    "stagectl-local/redis-exporter": _DEBIAN | {"wget", "prometheus-redis-exporter"},
    "stagectl-local/prometheus": _DEBIAN | {"wget", "prometheus", "promtool"},
}


def repository(image: str) -> str:
    """`registry.example/team/redis:7-alpine@sha256:…` → `redis`-style repository names as
    declared above (a `${IMAGE_REGISTRY}` prefix or a docker.io/library/ prefix is dropped)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/"):
        name = name.removeprefix(prefix)
    if name in PROVIDES:
        return name
    # a registry prefix: keep the longest declared suffix
    parts = name.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[i:]) in PROVIDES:
            return "/".join(parts[i:])
    return name
