"""The dashboard process's resident memory and open file descriptors, read with psutil from the
pid the backend reports. Only the local backend reports a host pid; for others the numbers are
marked not applicable with the reason."""

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

    if backend != "local":
        return None, f"the {backend} backend runs the dashboard in a container; its pid is not this host's to read"
    rows = backend_for(backend, project).status(probe=False)  # type: ignore[call-arg]
    row = next((r for r in rows if r.name == "dashboard"), None)
    if row is None or row.pid is None:
        return None, "the backend reports no pid for the dashboard"
    return row.pid, None


def usage(pid: int) -> Usage:
    """RSS of the process and its children (uvicorn workers, if any), and the process's open fds."""
    proc = psutil.Process(pid)
    family = [proc, *proc.children(recursive=True)]
    rss = sum(p.memory_info().rss for p in family)
    return Usage(round(rss / 2**20, 1), sum(p.num_fds() for p in family))
