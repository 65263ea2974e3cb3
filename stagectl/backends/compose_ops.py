"""Day-two operations of the compose backend (see the `Backend` protocol's second half):
stop one service, `up SERVICE…`, `exec`, interleaved logs. Kept apart from compose.py, which holds
the stack's life cycle; `ComposeBackend` delegates each method here in one line.

Everything goes through the same `docker compose -f … -p <project>` command line python-on-whales
builds (`docker.compose.docker_compose_cmd`), so the files, env files and project match `up`'s.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import threading
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


# container states whose published ports are held (by the engine's port proxy) for this project
_HOLDING_PORTS = ("healthy", "running", "unhealthy", "paused")


def check_ports(backend: ComposeBackend, rows: Sequence[ServiceStatus]) -> None:
    """The host port of every service about to start must be free, as for the local backend: exit 4
    naming its owner before anything starts, not compose's "bind: address already in use" halfway
    through `up` (exit 3). A service of this project already running holds its own port."""
    from stagectl.backends.local.preflight import check_ports as check_loopback_ports

    check_loopback_ports(backend.ctx.stack, [row.name for row in rows if row.state not in _HOLDING_PORTS])


def up_services(backend: ComposeBackend, services: list[str], *, wait_timeout: float) -> list[ServiceStatus]:
    """`docker compose up -d SERVICE…` starts their dependencies too; then the wait engine."""
    for service in services:
        backend._require(service)
    from stagectl.services import dependency_closure

    wanted = [n for n in dependency_closure(backend.ctx.stack, services) if n in backend.services]
    check_ports(backend, [row for row in backend.status() if row.name in wanted])
    backend.prepare_host_dirs()
    started = backend._clock()
    backend._call("up", lambda: backend.docker.compose.up(services, detach=True, quiet=True))
    rows = backend._wait(wanted, started=started, timeout=wait_timeout)[0]
    return list(rows)


def exec_in(backend: ComposeBackend, service: str, argv: Sequence[str], *, interactive: bool = False) -> int:
    backend._require(service)
    if not argv:
        raise StagectlError("nothing to run", hint=f"stagectl exec {service} -- COMMAND [ARG…]")
    cmd = [*_compose_cmd(backend), "exec", *([] if interactive else ["-T"]), service, *argv]
    try:
        if interactive:  # a terminal: docker's stderr is the terminal's, nothing to read
            return subprocess.run(cmd, check=False).returncode
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise PreflightError(f"{cmd[0]} not found", hint="install Docker (scripts/install-docker.sh)") from None
    # docker prints the runtime's "executable file not found" on stdout, "is not running" on stderr
    tees = [_Tee(proc.stdout, sys.stdout), _Tee(proc.stderr, sys.stderr)]
    code = proc.wait()
    for tee in tees:
        tee.join()
    said = "".join(tee.text() for tee in tees)
    # what docker says when the command never ran: the same exit 4 as the local backend's
    if code in (126, 127) and "executable file not found" in said:
        raise PreflightError(f"{service}: {argv[0]}: command not found (in the container's PATH)")
    if code != 0 and f'service "{service}" is not running' in said:
        raise PreflightError(f"{service} is not running", hint=f"stagectl start {service}")
    return code


class _Tee:
    """Copy a child's output stream to ours as it comes, keeping its last few KiB to read afterwards."""

    def __init__(self, stream, sink):
        self._stream, self._sink, self._tail = stream, sink, bytearray()
        self._thread = threading.Thread(target=self._pump, name="exec-output", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        raw = getattr(self._sink, "buffer", None)
        for chunk in iter(lambda: self._stream.read1(4096), b""):
            if raw is not None:
                raw.write(chunk)
                raw.flush()
            else:  # a text stream without bytes underneath (pytest's capture)
                self._sink.write(chunk.decode(errors="replace"))
            self._tail = (self._tail + chunk)[-4096:]

    def join(self) -> None:
        self._thread.join(timeout=10)

    def text(self) -> str:
        return self._tail.decode(errors="replace")


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
        # to the microsecond (compose takes RFC 3339 with a fraction): whole seconds showed up to 1 s more
        cmd += ["--since", dt.datetime.fromtimestamp(since, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
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
