# Over ~350 lines for now: the whole Backend protocol on one engine (up, signal, logs, down); the wait is in compose_health.py, the day-two operations in compose_ops.py.
"""The compose backend: runs the rendered compose file with Docker Compose v2 through python-on-whales.

Health: the wait engine the local backend uses (stagectl/health/wait.py), fed with each
container's state and Docker health (compose_health.py; not `up --wait`): one global deadline,
fail fast on a crashed or unhealthy container, the root cause named with its last log lines. On
failure the backend tears the stack down itself (compose leaves containers running).
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal as signals
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient, DockerException
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.utils import run as run_docker

from stagectl.backends import compose_health, compose_ops, compose_prometheus
from stagectl.backends.base import BackendContext, DownResult, LogLine, ServiceStatus, UpResult
from stagectl.backends.compose_health import EXITED, S3_INIT, S3_INIT_OF, Container, Feed, list_containers
from stagectl.errors import ConfigError, PreflightError, StagectlError, TeardownError, UnhealthyError
from stagectl.health.verdict import LOG_TAIL, unhealthy_error
from stagectl.images.select import BUILD_COMMAND, LOCAL_IMAGES_FILE, ImageChoice, choose_images
from stagectl.secrets import Masker

COMPOSE_FILE = "docker-compose.staging.yml"
S3_INIT_FILE = "docker-compose.s3-init.yml"  # the one-shot bucket initialisation (service s3-init)
HOST_FILE = "docker-compose.host.yml"  # host ports like local's, the dashboard's log file in the state dir
LOG_DIR = "compose-logs"  # under the state dir, bind-mounted at /app/logs by HOST_FILE
DASHBOARD_LOG = "dashboard.json.log"
Progress = Callable[[dict], None]
RENDERED_ENV_FILE = ".env.staging"  # the non-secret interpolation values `stagectl render` writes
LOCAL_HINT = "try --backend local"


def unavailable(exc: BaseException) -> PreflightError | None:
    """The PreflightError for 'no docker CLI / no engine / no compose plugin', else None."""
    if isinstance(exc, ClientNotFoundError):
        return PreflightError("compose backend unavailable: docker CLI not found on PATH", hint=LOCAL_HINT)
    if not isinstance(exc, DockerException):
        return None
    stderr = exc.stderr or ""
    if "Cannot connect to the Docker daemon" in stderr or "Is the docker daemon running" in stderr:
        return PreflightError("compose backend unavailable: no Docker engine answers", hint=LOCAL_HINT)
    unknown = "unknown flag" in stderr or "unknown command" in stderr or "is not a docker command" in stderr
    if unknown and (exc.return_code == 125 or "compose" in stderr):
        return PreflightError(
            "compose backend unavailable: Compose v2 plugin missing (`docker compose` is not a command)",
            hint=f"install the docker-compose-plugin, or {LOCAL_HINT}",
        )
    return None


def parse_ps(text: str) -> dict[str, dict]:
    """`compose ps --format json` rows by service. Compose ≥2.21 prints JSON lines, older an array."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {row["Service"]: row for row in rows}


OVERRIDES_ENV_FILE = "compose-overrides.env"


def write_overrides_env_file(path: Path, overrides: Mapping[str, str]) -> Path:
    """The `--set` variables as the last `--env-file` (0600: a value may be a secret). Values are
    single-quoted, which compose reads literally (no `${}` interpolation); a value that cannot be
    written that way is refused rather than changed."""
    lines = []
    for name, value in sorted(overrides.items()):
        if "'" in value or "\n" in value:
            raise ConfigError(f"--set {name}: the compose backend cannot pass a value with a single quote or a newline",
                              hint="put it in the env file instead")
        lines.append(f"{name}='{value}'\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    os.chmod(path, 0o600)
    return path


class ComposeBackend:
    """Backend over `docker compose -f compose/docker-compose.staging.yml --env-file .env.staging -p <project>`."""

    name = "compose"

    def __init__(
        self,
        ctx: BackendContext,
        *,
        client_call: Sequence[str] = ("docker",),
        poll_interval: float = 0.5,
        log_tail: int = 20,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.ctx = ctx
        self.compose_file = ctx.root / ctx.stack.render_dir / COMPOSE_FILE
        # The rendered env file holds the non-secret values, the project's own env file the
        # secrets; compose lets a later --env-file win. A missing one is left to the process env.
        env_files = [ctx.root / ctx.stack.render_dir / RENDERED_ENV_FILE, ctx.env_path or ctx.root / ctx.stack.env_file]
        self._overrides_file = ctx.state_dir / "run" / OVERRIDES_ENV_FILE
        if ctx.overrides:  # `--set` wins over both, as it does for the local backend
            env_files.append(write_overrides_env_file(self._overrides_file, ctx.overrides))
        self._client_call = list(client_call)
        self.images = self._choose_images()
        render_dir = ctx.root / ctx.stack.render_dir
        files = [self.compose_file, render_dir / S3_INIT_FILE, render_dir / HOST_FILE]
        if self.images.mode == "local":
            files.append(render_dir / LOCAL_IMAGES_FILE)
        self.docker = DockerClient(
            compose_files=[f for f in files if f == self.compose_file or f.is_file()],
            compose_env_files=[f for f in env_files if f.is_file()],
            compose_project_name=ctx.stack.project,
            client_call=self._client_call,
        )
        self.services = [n for n, s in ctx.stack.services.items() if s.enabled and n not in self.images.skipped]
        self.build_missing = True  # up builds a missing or stale local image; False: preflight refuses a missing one (exit 4)
        self.poll_interval = poll_interval
        self.log_tail = log_tail
        self._clock, self._sleep = clock, sleep
        self._mask = Masker.from_env(ctx.env)

    def _choose_images(self) -> ImageChoice:
        """Upstream or local images (stagectl.images.select); without an engine: upstream, and
        preflight says what is wrong."""
        enabled = {n: s for n, s in self.ctx.stack.services.items() if s.enabled}
        upstream = {n: s.image for n, s in enabled.items() if s.image}
        client = DockerClient(client_call=self._client_call)

        def exists(image: str) -> bool:
            return bool(client.image.exists(image))

        try:
            return choose_images(upstream, list(enabled), image_exists=exists)
        except (DockerException, ClientNotFoundError):
            return ImageChoice("upstream", "no engine answers", {}, {})

    @property
    def dashboard_log(self) -> Path:
        """The dashboard's JSON log file on the host (HOST_FILE mounts its directory)."""
        return self._log_dir / DASHBOARD_LOG

    prometheus_rules_ref = compose_prometheus.RULES_REF

    @property
    def prometheus_config(self) -> Path:
        """The stack's Prometheus config on the host (HOST_FILE mounts it; chaos edits it)."""
        return self._host_dir(compose_prometheus.CONFIG_DIR) / compose_prometheus.CONFIG_FILE

    @property
    def _log_dir(self) -> Path:
        return self._host_dir(LOG_DIR)

    def _host_dir(self, name: str) -> Path:
        # where HOST_FILE's bind mounts point: the project's state dir as rendered (relative to the
        # render dir), which a context with another state_dir (tests) does not move
        return self.ctx.root / self.ctx.stack.state_dir / self.ctx.stack.project / name

    def prepare_host_dirs(self) -> None:
        """Create what HOST_FILE bind-mounts before anything starts a container: a path docker
        would create itself is a root-owned directory, even where a file belongs."""
        # the dashboard runs as an unprivileged user and writes its log here
        log_dir = self._log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        log_dir.chmod(0o777)
        if any(self.ctx.stack.services[n].runner == "prometheus" for n in self.services):
            compose_prometheus.prepare(self.ctx.root / self.ctx.stack.render_dir,
                                       self._host_dir(compose_prometheus.CONFIG_DIR))

    # -- calling docker -------------------------------------------------------------------------

    def _call(self, action: str, fn: Callable[[], object], error: type[StagectlError] = UnhealthyError) -> object:
        """Run one docker call; map 'unavailable' to PreflightError and anything else to `error`."""
        try:
            return fn()
        except (DockerException, ClientNotFoundError) as exc:
            preflight = unavailable(exc)
            if preflight is not None:
                raise preflight from None
            detail = self._mask((getattr(exc, "stderr", None) or "").strip()) or f"exit code {getattr(exc, 'return_code', '?')}"
            raise error(f"docker compose {action} failed: {detail}") from None

    def _ps(self, error: type[StagectlError] = UnhealthyError) -> dict[str, dict]:
        # python-on-whales' compose.ps() returns container objects and needs one inspect per
        # container; the JSON listing gives state and health of all of them in one call.
        cmd = self.docker.compose.docker_compose_cmd + ["ps", "--all", "--format", "json"]
        text = str(self._call("ps", lambda: _listing(cmd), error))
        try:
            return parse_ps(text)
        except (ValueError, KeyError, TypeError):
            raise error(f"unexpected output from docker compose ps: {self._mask(text[:200])!r}") from None

    def _require(self, service: str) -> None:
        if service not in self.services:
            raise ConfigError(f"unknown service {service!r}", hint=f"services: {', '.join(self.services)}")

    # -- status ---------------------------------------------------------------------------------

    def _containers(self, error: type[StagectlError] = UnhealthyError) -> dict[str, Container]:
        """Every container of the project by service (compose_health: two cheap docker calls)."""
        try:
            return self._call("inspect", lambda: list_containers(self.docker, self.ctx.stack.project), error)  # type: ignore[return-value]
        except (ValueError, KeyError, TypeError) as exc:
            raise error(f"unexpected output from docker container inspect: {type(exc).__name__}: {self._mask(str(exc))[:200]}") from None

    def _status_of(self, name: str, c: Container | None) -> ServiceStatus:
        svc = self.ctx.stack.services[name]
        base: dict[str, Any] = dict(name=name, port=(c.host_port if c and c.host_port else svc.port))
        if c is None:
            return ServiceStatus(state="stopped", healthy=False, pid=None, detail="no container", **base)
        # restarts by the engine's restart policy and the current start, as the local backend shows them
        base.update(restarts=c.restarts, pid=c.pid if c.state in ("running", "paused") else None,
                    started_at=c.started_at if c.state in ("running", "paused") else None)
        if c.state == "running":
            if c.health == "healthy" or (not c.health and svc.healthcheck.test is None):
                return ServiceStatus(state="healthy", healthy=True, **base)
            if c.health == "unhealthy":
                why = f": {c.last_check}" if c.last_check else ""
                return ServiceStatus(state="unhealthy", healthy=False, detail=f"container health: unhealthy{why}", **base)
            why = f"health: {c.health}" if c.health else "no health status (is the healthcheck in the compose file?)"
            return ServiceStatus(state="running", healthy=False, detail=why, **base)
        if c.state == "paused":
            return ServiceStatus(state="paused", healthy=False, **base)
        if c.state in EXITED:
            return ServiceStatus(state="exited", healthy=False, detail=f"{c.state}, exit code {c.exit_code}", **base)
        return ServiceStatus(state="stopped", healthy=False, detail=c.state or "unknown state", **base)

    def status(self, probe: bool = True) -> list[ServiceStatus]:
        """The current state of every enabled service (a service without a container is 'stopped'),
        with the container's restarts (RestartCount) and start time (State.StartedAt). Health is
        the engine's own verdict, so there is nothing to probe either way (`probe` is the protocol's)."""
        rows = self._containers()
        return [self._status_of(n, rows.get(n)) for n in self.services]

    # -- waiting: the shared wait engine (stagectl/health/wait.py) fed by compose_health ----------

    def _wait(self, services: list[str], *, started: float, timeout: float, launch: _Launch | None = None,
              on_progress: Progress | None = None, unhealthy_grace: float = 0.0,
              one_shots: Sequence[str] = ()) -> tuple[list[ServiceStatus], bool]:
        """The shared wait engine over these services' containers (compose_health.wait)."""
        return compose_health.wait(self, services, started=started, timeout=timeout, launch=launch,
                                   on_progress=on_progress, unhealthy_grace=unhealthy_grace, one_shots=one_shots)

    def _log_tail(self, service: str) -> list[str]:
        return self._logs_of(service, LOG_TAIL).rstrip("\n").splitlines()

    def _unhealthy(self, record: dict) -> StagectlError:
        error = unhealthy_error(record, full_log=lambda root: f"see `stagectl logs {root or '<service>'}`")
        error.message = self._mask(error.message)
        error.args = (error.message,)
        return error

    def image_ids(self) -> dict[str, str]:
        """Service → `repository:tag@sha256:<12 hex>` of the image its container runs (the report's versions)."""
        cmd = self.docker.compose.docker_compose_cmd + ["images", "--format", "json"]
        text = str(self._call("images", lambda: run_docker(cmd), StagectlError)).strip()
        rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
        by_container = {r["ContainerName"]: f"{r['Repository']}:{r['Tag']}@{r['ID'][:19]}" for r in rows}
        return {svc: by_container[row["Name"]] for svc, row in self._ps(StagectlError).items()
                if svc in self.services and row.get("Name") in by_container}

    # -- lifecycle ------------------------------------------------------------------------------

    def preflight(self) -> dict[str, str]:
        """Compose file rendered, docker CLI present, engine answering, Compose v2 plugin present."""
        if not self.compose_file.is_file():
            raise PreflightError(f"compose file {self.compose_file} not found", hint="run `stagectl render` first")
        version: Any = self._call("version", self.docker.version, PreflightError)
        if version.server is None:
            raise PreflightError("compose backend unavailable: no Docker engine answers", hint=LOCAL_HINT)
        out = str(self._call("version", self.docker.compose.version, PreflightError))
        if " v1." in out or " 1." in out:
            found = f"compose backend unavailable: Compose v2 plugin missing (found {out.strip()!r})"
            raise PreflightError(found, hint=LOCAL_HINT)
        if self.images.mode == "local" and not self.build_missing:
            missing = self._missing_images()
            if missing:
                raise PreflightError(
                    f"compose backend: local image(s) missing: {', '.join(missing)} ({self.images.why})",
                    hint=f"build them: {BUILD_COMMAND}",
                )
        return dict(self.images.skipped)

    def _missing_images(self) -> list[str]:
        client = DockerClient(client_call=self._client_call)
        tags = sorted(set(self.images.tags.values()))
        return [t for t in tags if not self._call("image inspect", functools.partial(client.image.exists, t), PreflightError)]

    def _build_stale_images(self, on_progress: Progress | None) -> None:
        """Build the local images that are missing or stale (their input hash changed: a new
        Dockerfile, entry point or wheel); an unchanged one is a cache hit (stagectl.images, well
        under a second for all). Each image built is a progress row `image <name>`."""
        from stagectl.images.build import build_images

        if self.images.mode != "local" or not self.build_missing:
            return

        def report(image: str, what: str) -> None:
            if on_progress and what != "cached":
                detail = "missing or stale: building it (stagectl build)" if what == "building" else ""
                on_progress({"services": {f"image {image}": {"phase": what, "detail": detail, "ready_s": None}}})

        build_images(self.services, self.ctx.root, work_dir=self.ctx.root / self.ctx.stack.state_dir / "images",
                     client_call=self._client_call, on_progress=report)

    def up(self, *, wait_timeout: float, on_progress: Progress | None = None) -> UpResult:
        """`compose up --detach` in the background while the wait engine polls health; on failure
        run `compose down` and raise. `on_progress(state)` gets {"services": {name: {phase, detail,
        ready_s}}} at every poll, as from the local backend.

        An interrupt (Ctrl-C, SIGTERM: a KeyboardInterrupt) during the wait tears the stack down
        too, then propagates: `stagectl up` has no lifecycle of its own to do it (`run`'s teardown
        step then finds nothing left), and the local backend's supervisor does the same.
        """
        self._build_stale_images(on_progress)  # before the clock: building is not starting
        started = self._clock()
        self.prepare_host_dirs()
        launch: _Launch | None = None
        try:
            before = self.status()
            compose_ops.check_ports(self, before)  # exit 4 naming the owner, nothing started
            launch = _Launch(lambda: self._call("up", lambda: self.docker.compose.up(detach=True, quiet=True)))
            statuses, at_first_look = self._wait(self.services, started=started, timeout=wait_timeout, launch=launch,
                                                 on_progress=on_progress, one_shots=self._one_shots())
            launch.finish(timeout=max(5.0, wait_timeout - (self._clock() - started)))
            if launch.error is not None:
                raise compose_health.launch_failed(self, launch.error, Feed(self._containers, self._clock, 0.0), None)
        except StagectlError as exc:
            if not isinstance(exc, PreflightError):  # without an engine there is nothing to tear down
                self._teardown_after_failure(exc)
            raise
        except KeyboardInterrupt:
            if launch is not None:  # let a `compose up` that is still creating containers finish first
                launch.finish(timeout=15)
            self.down(volumes=False)  # a failure here is exit 5 (teardown incomplete), not hidden
            raise
        # compose leaves unchanged containers alone, and a recreated one restarts its health at
        # "starting": healthy before `up` and at the first look after it means nothing changed
        unchanged = all(s.healthy for s in before) and at_first_look
        return UpResult(services=statuses, total_s=round(self._clock() - started, 3), unchanged=unchanged,
                        skipped=dict(self.images.skipped))

    def _one_shots(self) -> list[str]:
        """The one-shot containers `up` waits for: s3-init, when its file is merged and s3 runs."""
        merged = any(Path(f).name == S3_INIT_FILE for f in self.docker.client_config.compose_files)
        return [S3_INIT] if merged and S3_INIT_OF[S3_INIT] in self.services else []

    def _teardown_after_failure(self, cause: StagectlError) -> None:
        try:
            result = self.down(volumes=False)
        except StagectlError as exc:
            raise TeardownError(f"{cause.message}\nteardown failed too: {exc.message}", hint=exc.hint) from None
        if result.leftovers:
            raise TeardownError(f"{cause.message}\nteardown left running: {', '.join(result.leftovers)}")

    def logs(self, service: str, *, tail: int | None = None, follow: bool = False) -> str:
        """The service's container log (last `tail` lines), secrets masked."""
        self._require(service)
        if follow:
            hint = f"run `docker compose -p {self.ctx.stack.project} logs -f {service}`"
            raise StagectlError("the compose backend cannot follow logs", hint=hint)
        lines = None if tail is None else str(tail)
        text = self._call(
            "logs", lambda: self.docker.compose.logs(services=[service], tail=lines, no_log_prefix=True), StagectlError
        )
        return self._mask(str(text))

    def _logs_of(self, service: str, tail: int) -> str:
        """The last log lines of any container of the project (s3-init included), for error messages."""
        try:
            text = self._call(
                "logs", lambda: self.docker.compose.logs(services=[service], tail=str(tail), no_log_prefix=True), StagectlError
            )
        except StagectlError as exc:
            return f"(logs unavailable: {exc.message})"
        return self._mask(str(text))

    def signal(self, service: str, sig: int) -> None:
        """SIGSTOP → pause, SIGCONT → unpause, SIGTERM or the service's own stop signal → stop (with
        the file's grace period; the container stays down, where `kill -s` would let its restart
        policy bring it back), else kill -s."""
        self._require(service)
        compose = self.docker.compose
        stop = ("stop", lambda: compose.stop([service]))
        actions: dict[int, tuple[str, Callable[[], Any]]] = {
            signals.SIGSTOP: ("pause", lambda: compose.pause([service])),
            signals.SIGCONT: ("unpause", lambda: compose.unpause([service])),
            signals.SIGTERM: stop,
            int(getattr(signals, self.ctx.stack.services[service].stop_signal)): stop,
        }
        action, fn = actions.get(sig, ("kill", lambda: compose.kill([service], signal=signals.Signals(sig).name)))
        self._call(action, fn, StagectlError)

    def start(self, service: str, *, wait_timeout: float) -> ServiceStatus:
        """Unpause, start or restart one service (by its state) and wait for it to be healthy."""
        self._require(service)
        started = self._clock()
        current = self._status_of(service, self._containers().get(service))
        compose = self.docker.compose
        if current.state == "paused":
            self._call("unpause", lambda: compose.unpause([service]))
        elif current.detail == "no container":
            self.prepare_host_dirs()
            self._call("up", lambda: compose.up([service], detach=True, quiet=True, dependencies=False))
        elif current.state in ("exited", "stopped"):
            self._call("start", lambda: compose.start([service]))
        else:
            self._call("restart", lambda: compose.restart([service]))
        check = self.ctx.stack.services[service].healthcheck
        grace = check.interval + check.timeout + 1.0  # one check round for the engine's verdict to catch up
        return self._wait([service], started=started, timeout=wait_timeout, unhealthy_grace=grace)[0][0]

    # -- day-two operation: stagectl/backends/compose_ops.py ----------------------------------------
    def stop_service(self, service: str) -> ServiceStatus:
        return compose_ops.stop_service(self, service)

    def up_services(self, services: list[str], *, wait_timeout: float) -> list[ServiceStatus]:
        return compose_ops.up_services(self, services, wait_timeout=wait_timeout)

    def exec_in(self, service: str, argv: Sequence[str], *, interactive: bool = False) -> int:
        return compose_ops.exec_in(self, service, argv, interactive=interactive)

    def log_lines(self, services: Sequence[str], **options: Any) -> Iterator[LogLine]:
        return compose_ops.log_lines(self, services, **options)

    def down(self, *, volumes: bool = False) -> DownResult:
        """`compose down --remove-orphans` (`--volumes` only when asked); idempotent; reports leftovers."""
        before = sorted(self._ps(TeardownError))
        grace = max((s.stop_grace_period for s in self.ctx.stack.services.values()), default=10.0)
        compose = self.docker.compose
        self._call(
            "down",
            lambda: compose.down(remove_orphans=True, volumes=volumes, timeout=math.ceil(grace), quiet=True),
            TeardownError,
        )
        leftovers = sorted(self._ps(TeardownError))
        stopped = [n for n in before if n not in leftovers]
        if not leftovers:  # the `--set` values (maybe secrets) are not kept once the stack is gone
            self._overrides_file.unlink(missing_ok=True)
        return DownResult(stopped=stopped, killed=[], leftovers=leftovers, volumes_removed=volumes)


def _listing(cmd: list) -> object:
    """`compose ps` lists the project's containers, then inspects each: a container removed in
    between (seen on engine 20.10 while other builds ran: "No such container: <id>") fails the
    whole call. Such a listing is asked again (up to twice); any other failure is not."""
    for attempt in range(3):
        try:
            return run_docker(cmd)
        except DockerException as exc:
            if attempt == 2 or "No such container" not in (exc.stderr or ""):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class _Launch:
    """A blocking compose call run in a thread, so the wait engine can watch health meanwhile."""

    def __init__(self, call: Callable[[], object]):
        self.error: StagectlError | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name="compose-up", daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            call()
        except StagectlError as exc:
            self.error = exc

    def finish(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.error = UnhealthyError(f"docker compose up still running {timeout:.0f}s after every service was healthy")


def engine_answers(client_call: Sequence[str] = ("docker",)) -> str | None:
    """None when a Docker engine with the Compose v2 plugin answers, else the reason it does not."""
    client = DockerClient(client_call=list(client_call))
    try:
        if client.version().server is None:
            return "no Docker engine answers"
        client.compose.version()
    except (DockerException, ClientNotFoundError) as exc:
        reason = unavailable(exc)
        return reason.message if reason else f"docker failed: exit code {getattr(exc, 'return_code', '?')}"
    return None


__all__ = ["COMPOSE_FILE", "ComposeBackend", "engine_answers", "parse_ps", "unavailable"]
