"""Checks before anything starts: binaries (with the exact install command) and busy ports."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import psutil

from stagectl.binaries import resolve
from stagectl.config.model import Stack
from stagectl.errors import PreflightError


def plan_services(stack: Stack, root: Path) -> tuple[list[str], dict[str, str]]:
    """(services to start in start order, skipped name → reason). Raises PreflightError when a
    required service cannot run."""
    skipped: dict[str, str] = {}
    missing: list[str] = []
    for name, svc in stack.services.items():
        if not svc.enabled:
            skipped[name] = "disabled in stagectl.yaml"
            continue
        found = resolve(svc, root=root)
        if found.path is not None:
            found_err = _exec_problem(found.path)
            if found_err:
                missing.append(f"service {name}: {found.path}: {found_err}")
            continue
        if svc.optional:
            skipped[name] = found.reason if found.reason.startswith("not available") else f"not available ({found.reason})"
        else:
            missing.append(f"service {name}: {found.reason}" + (f" — install: {found.install}" if found.install else ""))
    if missing:
        raise PreflightError("missing binaries, nothing started:\n  " + "\n  ".join(missing),
                             hint="install the missing programs (commands above) or disable the service")
    for name in list(stack.services):  # a service needing a skipped one cannot run either
        if name in skipped:
            continue
        blocked = [d for d in stack.services[name].depends_on if d in skipped]
        if blocked:
            if stack.services[name].optional:
                skipped[name] = f"prerequisite {blocked[0]} skipped"
            else:
                raise PreflightError(f"service {name} needs {blocked[0]}, which is {skipped[blocked[0]]}")
    order = [n for wave in stack.start_order() for n in wave if n not in skipped]
    return order, skipped


def _exec_problem(path: str) -> str | None:
    """A script whose shebang names a missing interpreter fails only at exec (ENOEXEC/ENOENT):
    catch it here so it is a preflight error (exit 4), not a crash."""
    try:
        with open(path, "rb") as fh:
            head = fh.readline(256)
    except OSError as exc:
        return os.strerror(exc.errno or errno.EACCES)
    if head.startswith(b"#!"):
        interpreter = head[2:].strip().split(b" ")[0].decode(errors="replace")
        if interpreter and not os.access(interpreter, os.X_OK):
            return f"bad interpreter {interpreter!r}: {os.strerror(errno.ENOENT)}"
    return None


def port_owner(port: int) -> str:
    """'pid 123 (redis-server)' for the process listening on `port`, if visible."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"pid {conn.pid}"
    except psutil.Error:
        pass
    return "an unknown process"


def check_ports(stack: Stack, names: list[str]) -> None:
    """Every service's port must be free on 127.0.0.1. Raises PreflightError naming the owner."""
    busy = []
    for name in names:
        port = stack.services[name].port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"port {port} for service {name} is in use by {port_owner(port)}")
    if busy:
        raise PreflightError("; ".join(busy) + " — nothing started",
                             hint="stop that process, or choose another port with --set <SERVICE>_PORT=...")
