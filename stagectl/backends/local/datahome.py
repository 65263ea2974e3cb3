"""Where the services' own files live when stagectl runs as root (the project's service home).

As root, every service runs as an unprivileged OS user (`postgres`, or the system user
`stagectl`; see privileges), which must traverse every parent of what it reads and writes.
People clone into their home (`/root` is 0700, so is `mktemp -d`): anything inside the checkout
is out of those users' reach. As root the services' data, configs, the dashboard's JSON log and
its code (see pyruntime) therefore live under a system directory tied to the project —
`/var/lib/stagectl/<project>-<hash>/`, the hash taken over the project's resolved state
directory, so two checkouts never share one — with a `project` file naming the state directory
it belongs to. `down --volumes` removes its `data/`; plain `down` keeps it. Non-root runs keep
everything under the state directory. stagectl's own files (state, plan, service logs) stay there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

SYSTEM_ROOT_VAR = "STAGECTL_SYSTEM_DATA"  # tests point it elsewhere; the default is the FHS place
DEFAULT_SYSTEM_ROOT = "/var/lib/stagectl"


def system_root() -> Path:
    return Path(os.environ.get(SYSTEM_ROOT_VAR) or DEFAULT_SYSTEM_ROOT)


def system_home(state_dir: Path) -> Path | None:
    """The project's directory under the system root when running as root, else None."""
    if os.geteuid() != 0:
        return None
    resolved = Path(state_dir).resolve()
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return system_root() / f"{resolved.name}-{key}"


def service_home(state_dir: Path) -> Path:
    """The base of the services' `data/<service>`, `run/`, `logs/`, `app/` and `cache/pg-spare`."""
    return system_home(state_dir) or Path(state_dir)


pg_home = service_home  # PostgreSQL's cluster was the first to move here


def ensure_home(state_dir: Path) -> Path:
    """Create the project's home (0755 on the way, so the service users can pass) and label it."""
    home = service_home(state_dir)
    if home == Path(state_dir):
        home.mkdir(parents=True, exist_ok=True)
        return home
    for part in [*reversed(home.parents), home]:
        if not part.exists():
            part.mkdir(mode=0o755)
            os.chmod(part, 0o755)  # the umask may have narrowed it
    label = home / "project"
    if not label.exists():
        label.write_text(f"{Path(state_dir).resolve()}\n", encoding="utf-8")
    data = home / "data"
    data.mkdir(exist_ok=True)
    os.chmod(data, 0o711)  # each service's own dir below is 0700; nobody may list them
    return home


def remove_volumes(state_dir: Path) -> list[Path]:
    """`down --volumes`: every data directory of the project (the checkout's and the system one).
    The pre-made PostgreSQL spare (`cache/`) holds no project data and stays."""
    removed = []
    candidates = [Path(state_dir) / "data"]
    home = system_home(state_dir)
    if home is not None:
        candidates.append(home / "data")
    for path in candidates:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
