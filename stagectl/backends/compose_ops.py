"""Day-two operations of the compose backend (see the `Backend` protocol's second half):
stop one service, `up SERVICE…`, `exec`, interleaved logs. Kept apart from compose.py, which holds
the stack's life cycle; `ComposeBackend` delegates each method here in one line.

Everything goes through the same `docker compose -f … -p <project>` command line python-on-whales
builds (`docker.compose.docker_compose_cmd`), so the files, env files and project match `up`'s.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from stagectl.backends.base import LogLine, ServiceStatus
from stagectl.errors import PreflightError, StagectlError
from stagectl.logstream import interleave, line_time

if TYPE_CHECKING:
    from stagectl.backends.compose import ComposeBackend

# `docker compose logs --timestamps` lines: "<service>-1  | 2026-12-04T23:17:01.123456789Z text"
_LOG_LINE = re.compile(r"^(?P<container>\S+?)\s*\|\s(?P<ts>\d{4}-\d{2}-\d{2}T\S+)\s?(?P<text>.*)$")


def _compose_cmd(backend: ComposeBackend) -> list[str]:
    return [str(part) for part in backend.docker.compose.docker_compose_cmd]


def stop_service(backend: ComposeBackend, service: str) -> ServiceStatus:
    backend._require(service)
    backend._call("stop", lambda: backend.docker.compose.stop([service]), StagectlError)
    return next(row for row in backend.status() if row.name == service)


def up_services(backend: ComposeBackend, services: list[str], *, wait_timeout: float) -> list[ServiceStatus]:
    """`docker compose up -d SERVICE…` starts their dependencies too; then the wait engine."""
    for service in services:
        backend._require(service)
    started = backend._clock()
    backend._call("up", lambda: backend.docker.compose.up(services, detach=True, quiet=True))
    from stagectl.services import dependency_closure

    wanted = [n for n in dependency_closure(backend.ctx.stack, services) if n in backend.services]
    rows = backend._wait(wanted, started=started, timeout=wait_timeout)[0]
    return list(rows)


def exec_in(backend: ComposeBackend, service: str, argv: Sequence[str], *, interactive: bool = False) -> int:
    backend._require(service)
    if not argv:
        raise StagectlError("nothing to run", hint=f"stagectl exec {service} -- COMMAND [ARG…]")
    cmd = [*_compose_cmd(backend), "exec", *([] if interactive else ["-T"]), service, *argv]
    try:
        return subprocess.run(cmd, check=False).returncode
    except FileNotFoundError:
        raise PreflightError(f"{cmd[0]} not found", hint="install Docker (scripts/install-docker.sh)") from None


def _parse(line: str, services: Sequence[str]) -> LogLine | None:
    found = _LOG_LINE.match(line)
    if not found:
        return None
    container = found["container"]
    service = next((s for s in services if container == s or re.fullmatch(rf"{re.escape(s)}-\d+", container)), container)
    return LogLine(service, found["text"], line_time(found["ts"]))


def log_lines(backend: ComposeBackend, services: Sequence[str], *, tail: int | None = None,
              since: float | None = None, follow: bool = False) -> Iterator[LogLine]:
    names = list(services) or list(backend.services)
    for name in names:
        backend._require(name)
    cmd = [*_compose_cmd(backend), "logs", "--no-color", "--timestamps"]
    if tail:
        cmd += ["--tail", str(tail)]
    if since is not None:
        cmd += ["--since", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))]
    if not follow:
        done = subprocess.run([*cmd, *names], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StagectlError(f"docker compose logs failed: {backend._mask(done.stderr.strip()[-300:])}")
        per: dict[str, list[LogLine]] = {n: [] for n in names}
        for raw in done.stdout.splitlines():
            parsed = _parse(raw, names)
            if parsed is not None:
                per.setdefault(parsed.service, []).append(parsed)
        yield from interleave(list(per.values()))
        return
    proc = subprocess.Popen([*cmd, "--follow", *names], stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            parsed = _parse(raw.rstrip("\n"), names)
            if parsed is not None:
                yield parsed
    finally:
        proc.terminate()
        proc.wait(timeout=10)
