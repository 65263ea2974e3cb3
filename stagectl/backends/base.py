"""The backend contract: every backend (local processes, docker compose, later Kubernetes)
implements this Protocol, and one contract test suite runs against each of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from stagectl.config.model import Stack

ServiceState = Literal["running", "healthy", "unhealthy", "exited", "stopped", "skipped", "paused", "stale"]


@dataclasses.dataclass(frozen=True)
class ServiceStatus:
    """One row of `stagectl status --json`."""

    name: str
    state: ServiceState
    healthy: bool
    pid: int | None
    port: int
    ready_s: float | None = None
    detail: str = ""
    restarts: int = 0  # restarts by the restart policy since `up`
    started_at: float | None = None  # epoch seconds of the current process/container start (uptime)


@dataclasses.dataclass(frozen=True)
class UpResult:
    """What `up` did: per-service ready times, skipped optional services, whether it was a no-op."""

    services: list[ServiceStatus]
    total_s: float
    unchanged: bool = False
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # name → reason


@dataclasses.dataclass(frozen=True)
class DownResult:
    stopped: list[str]
    killed: list[str]  # needed SIGKILL after the grace period
    leftovers: list[str]  # could not be stopped (→ exit 5)
    volumes_removed: bool = False


@dataclasses.dataclass(frozen=True)
class BackendContext:
    """Everything a backend needs: the resolved stack, its resolved environment and where to keep state."""

    stack: Stack
    env: Mapping[str, str]
    root: Path  # repository / project directory
    state_dir: Path  # e.g. <root>/.stagectl/<project>
    overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)  # the `--set` variables
    env_path: Path | None = None  # the env file in use (the global `--env-file`), None: the spec's


@runtime_checkable
class Backend(Protocol):
    """A way to run the stack. Methods raise StagectlError subclasses; they never print or exit."""

    name: str
    ctx: BackendContext
    # where chaos switches the stack's Prometheus to chaos timing (stagectl/chaos/alerts.py): the
    # config file on this host, and its directory as Prometheus names it when that is not the host
    # path (a container's bind mount; None: the host path)
    prometheus_config: Path
    prometheus_rules_ref: str | None

    def preflight(self) -> dict[str, str]:
        """Check binaries, ports, engine. Raises PreflightError; returns skipped optional services."""

    def up(self, *, wait_timeout: float, on_progress: Callable[[dict], None] | None = None) -> UpResult:
        """Start in dependency order and wait for health. Raises UnhealthyError (after tearing down).

        `on_progress(state)` is called while waiting with {"services": {name: {"phase", "detail",
        "ready_s", …}}}; every backend accepts it (the CLI passes it unconditionally)."""

    def status(self, probe: bool = True) -> list[ServiceStatus]:
        """The current state of every service. `probe=False`: from what the backend already
        knows, without checking each service's health itself (callers that probe on their own)."""

    def logs(self, service: str, *, tail: int | None = None, follow: bool = False) -> str:
        """The service's log (last `tail` lines)."""

    def signal(self, service: str, sig: int) -> None:
        """Deliver a signal to a service (chaos: SIGSTOP/SIGCONT/SIGTERM; compose: pause/stop)."""

    def start(self, service: str, *, wait_timeout: float) -> ServiceStatus:
        """(Re)start one stopped service and wait for it to be healthy (chaos restore)."""

    def down(self, *, volumes: bool = False) -> DownResult:
        """Stop everything `up` started; remove data only when `volumes` is true."""

    # --- day-two operation (stagectl/services.py, commands exec and logs) -----------------------
    def stop_service(self, service: str) -> ServiceStatus:
        """Stop one service with its stop signal and grace; it stays down (no restart policy)."""

    def up_services(self, services: list[str], *, wait_timeout: float) -> list[ServiceStatus]:
        """Bring these services and their dependencies up (the stack running or not); wait for health."""

    def exec_in(self, service: str, argv: Sequence[str], *, interactive: bool = False) -> int:
        """Run `argv` in the service's environment (local: its env, cwd, user; compose: `docker
        compose exec`) with this process's stdin/stdout/stderr; return its exit code."""

    def log_lines(self, services: Sequence[str], *, tail: int | None = None, since: float | None = None,
                  follow: bool = False) -> Iterator[LogLine]:
        """The services' log lines (last `tail` each, not older than epoch `since`), interleaved in
        time order; with `follow`, new lines as they come until the caller stops iterating."""


@dataclasses.dataclass(frozen=True)
class LogLine:
    service: str
    text: str
    at: float | None = None  # epoch seconds, when the log says
