"""The dashboard process's resident memory and open file descriptors, read with psutil from the
host pid the backend reports: the local backend's process, or the compose container's main
process (its uvicorn: the entry point execs it), which this host's root can read like any other."""

from __future__ import annotations

import dataclasses

import psutil


@dataclasses.dataclass(frozen=True)
class Usage:
    rss_mb: float
    fds: int


def dashboard_pid(project, backend: str) -> tuple[int | None, str | None]:
    """(pid, None) or (None, why not)."""
    from stagectl.stack import backend_for

    stack_backend = backend_for(backend, project)
    rows = stack_backend.status(probe=False)  # the pid is all this needs: no health probe
    row = next((r for r in rows if r.name == "dashboard"), None)
    if row is None or row.pid is None:
        return None, f"the {backend} backend reports no host pid for the dashboard"
    return row.pid, None


def measure(pid: int | None, why_not: str | None) -> tuple[Usage | None, str | None]:
    """(usage, None), or (None, why it was not measured): no pid, or a process this user may not read."""
    if pid is None:
        return None, why_not
    try:
        return usage(pid), None
    except psutil.AccessDenied:
        return None, f"pid {pid} belongs to another user; its memory and open files need root to read"
    except psutil.NoSuchProcess:
        return None, f"pid {pid} ended while the soak ran"


def usage(pid: int) -> Usage:
    """RSS of the process and its children (uvicorn workers, if any), and the process's open fds."""
    proc = psutil.Process(pid)
    family = [proc, *proc.children(recursive=True)]
    rss = sum(p.memory_info().rss for p in family)
    return Usage(round(rss / 2**20, 1), sum(p.num_fds() for p in family))
