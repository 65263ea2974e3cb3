"""Section `system`: the binaries and Python packages the local backend needs are installed."""

from __future__ import annotations

from stagectl.checking import CheckContext, check, failed, passed

SECTION = "system"
MIN_PYTHON = (3, 11)
APT = "apt-get install -y --no-install-recommends"
PACKAGES = ("fastapi", "uvicorn", "psycopg", "redis", "boto3", "moto", "prometheus_client", "httpx")


def _binaries(ctx: CheckContext, names: tuple[str, ...], hint: str):
    missing = [n for n in names if ctx.which(n) is None]
    if missing:
        return failed(f"not on PATH: {', '.join(missing)}", hint=hint)
    return passed(", ".join(f"{n} → {ctx.which(n)}" for n in names))


@check("system.python", SECTION, f"Python ≥ {MIN_PYTHON[0]}.{MIN_PYTHON[1]}.", catches="stagectl or the dashboard failing on syntax/typing of a newer Python")
def python(ctx: CheckContext):
    found = ".".join(map(str, ctx.python_version))
    if tuple(ctx.python_version) < MIN_PYTHON:
        return failed(f"Python {found}", hint=f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ (e.g. with pyenv)")
    return passed(f"Python {found}")


@check("system.postgres", SECTION, "PostgreSQL server binaries (initdb, postgres) are on PATH.", catches="`up` failing late on a missing database server")
def postgres(ctx: CheckContext):
    return _binaries(ctx, ("initdb", "postgres"), f"{APT} postgresql-15 and add /usr/lib/postgresql/15/bin to PATH")


@check("system.redis", SECTION, "redis-server is on PATH.", catches="`up` failing late on a missing Redis")
def redis(ctx: CheckContext):
    return _binaries(ctx, ("redis-server",), f"{APT} redis-server")


@check("system.prometheus", SECTION, "prometheus is on PATH.", catches="no metrics or alerts in the local stack (not on PyPI)")
def prometheus(ctx: CheckContext):
    return _binaries(ctx, ("prometheus",), f"{APT} prometheus")


@check("system.promtool", SECTION, "promtool is on PATH.", catches="alert rules and config never checked by Prometheus' own parser")
def promtool(ctx: CheckContext):
    return _binaries(ctx, ("promtool",), f"{APT} prometheus (promtool ships with it)")


@check("system.moto", SECTION, "moto_server (the S3 stand-in) is on PATH.", catches="no object storage in the local stack")
def moto(ctx: CheckContext):
    return _binaries(ctx, ("moto_server",), "pip install 'moto[s3,server]' flask flask-cors")


@check("system.python_packages", SECTION, f"Python packages importable: {', '.join(PACKAGES)}.", catches="the dashboard or smoke tests dying on ImportError")
def python_packages(ctx: CheckContext):
    missing = [p for p in PACKAGES if not ctx.module_available(p)]
    if missing:
        return failed(f"not importable: {', '.join(missing)}", hint="pip install -e . (or bash scripts/install-deps.sh)")
    return passed(f"{len(PACKAGES)} packages importable")


@check("system.dashboard_installed", SECTION, "The dashboard package is importable.", catches="the system under test not installed in this environment")
def dashboard_installed(ctx: CheckContext):
    if not ctx.module_available("inventario_dashboard"):
        return failed("inventario_dashboard is not importable", hint="pip install -e ./dashboard")
    return passed("inventario_dashboard importable")
