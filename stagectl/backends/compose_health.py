"""The compose backend's view of health: every container of the project as the engine sees it, and
the wait engine's targets fed from that view.

The listing costs two calls of the plain docker CLI through python-on-whales (`container ls` by the
project's label, then one `container inspect` of all of them, ~0.02 s of CPU here), where one
`docker compose ps` costs ~0.19 s: polled every 0.25 s while containers start, that difference is
CPU the stack's own start-up needs on a 2-core machine. The inspect also gives what `status` shows
(restart count, start time) and the output of the last failed healthcheck.

Waiting uses stagectl/health/wait.py, the engine the local backend uses: compose starts the
containers itself (honouring `depends_on`), so a target's start does nothing and its probe reads
the container's health from the latest listing. Docker's "unhealthy" is already a verdict (its
healthcheck counted the retries), so the probe reports it as final.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from python_on_whales import DockerClient
from python_on_whales.exceptions import NoSuchContainer
from python_on_whales.utils import run as run_docker

from stagectl.backends.base import ServiceStatus
from stagectl.config.model import Healthcheck
from stagectl.errors import PreflightError, StagectlError
from stagectl.health.probes import ProbeResult
from stagectl.health.verdict import failure_record
from stagectl.health.wait import ServiceProgress, Target, WaitEngine, WaitOutcome

if TYPE_CHECKING:
    from stagectl.backends.compose import ComposeBackend, _Launch

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"  # `compose run` containers: not the service's own
EXITED = ("exited", "dead", "restarting")  # "restarting": it exited and its policy starts it again
S3_INIT = "s3-init"  # the one-shot bucket set-up (docker-compose.s3-init.yml)
S3_INIT_OF = {S3_INIT: "s3"}  # the one-shot → the service it sets up (it runs once that one is healthy)
S3_INIT_DEPENDENTS = ("dashboard",)  # start only after s3-init exited 0 (service_completed_successfully)


@dataclasses.dataclass(frozen=True)
class Container:
    """One service's container, from `docker container inspect`."""

    service: str
    name: str
    state: str  # created, running, paused, restarting, exited, dead
    health: str  # healthy, unhealthy, starting, "" (no healthcheck)
    exit_code: int = 0
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    restarts: int = 0
    pid: int | None = None
    host_port: int | None = None  # the first published port
    last_check: str = ""  # output of the latest healthcheck run


def _epoch(text: str | None) -> float | None:
    """Docker's RFC 3339 time (nanoseconds, 'Z') → epoch seconds; its zero time → None."""
    if not text or text.startswith("0001-"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _host_port(ports: dict | None) -> int | None:
    for bindings in (ports or {}).values():
        for binding in bindings or []:
            if str(binding.get("HostPort") or "").isdigit():
                return int(binding["HostPort"])
    return None


def parse_inspect(rows: list[dict]) -> dict[str, Container]:
    """`docker container inspect` output → the container of each service (a running one first)."""
    found: dict[str, Container] = {}
    for row in rows:
        labels = (row.get("Config") or {}).get("Labels") or {}
        if SERVICE_LABEL not in labels or str(labels.get(ONEOFF_LABEL, "False")).lower() == "true":
            continue
        state = row.get("State") or {}
        health = state.get("Health") or {}
        log = health.get("Log") or []
        container = Container(
            service=labels[SERVICE_LABEL], name=str(row.get("Name", "")).lstrip("/"),
            state=str(state.get("Status", "")).lower(), health=str(health.get("Status") or "").lower(),
            exit_code=int(state.get("ExitCode") or 0), started_at=_epoch(state.get("StartedAt")),
            finished_at=_epoch(state.get("FinishedAt")), restarts=int(row.get("RestartCount") or 0),
            pid=int(state.get("Pid") or 0) or None, host_port=_host_port((row.get("NetworkSettings") or {}).get("Ports")),
            last_check=str(log[-1].get("Output") or "").strip()[-300:] if log else "",
        )
        current = found.get(container.service)
        if current is None or (current.state != "running" and container.state == "running"):
            found[container.service] = container
    return found


def list_containers(docker: DockerClient, project: str) -> dict[str, Container]:
    """The project's containers by service: `container ls` by label, then one inspect of them all
    (python-on-whales' own inspect runs one call per container)."""
    for _attempt in range(3):
        ids = [str(c) for c in docker.container.list(all=True, filters=[("label", f"{PROJECT_LABEL}={project}")])]
        if not ids:
            return {}
        try:
            text = run_docker(docker.docker_cmd + ["container", "inspect", *ids])
        except NoSuchContainer:
            continue  # removed between the two calls (compose recreating it): list again
        return parse_inspect(json.loads(str(text)))
    return {}


class Feed:
    """The latest listing, shared by every target's probe: fetched at most about once per
    `interval`, so the probes of all services in one round cost one listing."""

    def __init__(self, fetch: Callable[[], dict[str, Container]], clock: Callable[[], float], interval: float):
        self._fetch, self._clock, self.interval = fetch, clock, interval
        self._lock = threading.Lock()
        self._rows: dict[str, Container] | None = None
        self._taken = 0.0
        self.fetches = 0

    def latest(self, *, refresh: bool = True) -> dict[str, Container]:
        with self._lock:
            # half an interval: a round that starts a little early still gets a fresh listing
            if self._rows is None or (refresh and self._clock() - self._taken >= self.interval / 2):
                self._rows = self._fetch()
                self._taken = self._clock()
                self.fetches += 1
            return self._rows


class _ContainerHandle:
    """The wait engine's handle of a container compose starts: its exit, from the latest listing.
    An exit from before this wait began (`since`, epoch) is the old container compose is about to
    replace or start again, not a crash."""

    def __init__(self, feed: Feed, service: str, since: float, one_shot: bool):
        self.feed, self.service, self.since, self.one_shot = feed, service, since, one_shot

    def exit_status(self) -> int | None:
        c = self.feed.latest(refresh=False).get(self.service)
        if c is None or c.state not in EXITED:
            return None
        if c.finished_at is not None and c.finished_at < self.since:
            return None
        if self.one_shot and c.state == "exited" and c.exit_code == 0:
            return None  # done: the probe says so
        return c.exit_code


def container_probe(feed: Feed, service: str, *, has_test: bool, one_shot: bool = False,
                    unhealthy_is_final: Callable[[], bool] = lambda: True) -> Callable[[], ProbeResult]:
    """The probe of one service: the engine's health status of its container."""

    def probe() -> ProbeResult:
        c = feed.latest().get(service)
        if c is None:
            return ProbeResult(False, "no container yet")
        if one_shot:  # done once it exited 0; an exit with another code is the handle's crash
            done = c.state == "exited" and c.exit_code == 0
            return ProbeResult(done, "completed (exit 0)" if done else f"container {c.state}")
        if c.state != "running":
            return ProbeResult(False, f"container {c.state}")
        if c.health == "healthy" or (not c.health and not has_test):
            return ProbeResult(True, "container health: healthy" if c.health else "running (no healthcheck)")
        if c.health == "unhealthy":
            why = f" (last check: {c.last_check})" if c.last_check else ""
            return ProbeResult(False, f"the engine's healthcheck failed its retries{why}", final=unhealthy_is_final())
        return ProbeResult(False, f"container health: {c.health}" if c.health
                           else "no health status (is the healthcheck in the compose file?)")

    return probe


def container_target(feed: Feed, service: str, check: Healthcheck, *, depends_on: Sequence[str], since: float,
                     timeout: float, one_shot: bool = False, unhealthy_is_final: Callable[[], bool] = lambda: True,
                     describe: str = "container") -> Target:
    """A wait-engine target for a container compose starts. Probed every round (the feed bounds the
    calls); a "starting" container is never counted as a failure, because the engine's own
    healthcheck counts (its start period, retries) and says "unhealthy" when they run out."""
    waiting = check.model_copy(update={"start_interval": 0.0, "start_period": timeout + 1.0, "retries": 1})
    probe = container_probe(feed, service, has_test=check.test is not None, one_shot=one_shot,
                            unhealthy_is_final=unhealthy_is_final)
    handle = _ContainerHandle(feed, service, since, one_shot)
    return Target(service, waiting, probe, lambda: handle, list(depends_on),
                  lambda code: f"{describe} exited with code {code}")


# -- waiting: the shared wait engine fed by the listing ----------------------------------------------


def wait(backend: ComposeBackend, services: list[str], *, started: float, timeout: float, launch: _Launch | None = None,
          on_progress: Callable[[dict], None] | None = None, unhealthy_grace: float = 0.0,
          one_shots: Sequence[str] = ()) -> tuple[list[ServiceStatus], bool]:
    """Wait until every service (and each of `one_shots` has exited 0) → (statuses, whether
    each was healthy at its first look); raise UnhealthyError (without tearing down) naming
    the root cause with its last log lines. `launch`: a compose call running meanwhile, whose
    failure ends the wait. Within `unhealthy_grace` an "unhealthy" is the engine's verdict
    from before (a paused container fails its checks) until its next check runs."""
    feed = Feed(backend._containers, backend._clock, backend.poll_interval)
    since = time.time() - (backend._clock() - started)  # `started` on the wall clock (containers' times)
    wanted = set(services) | set(one_shots)
    order = [n for wave in backend.ctx.stack.start_order() for n in wave if n in wanted]
    order += [n for n in one_shots if n not in order]
    targets = []
    for name in order:
        one_shot = name in one_shots
        svc = backend.ctx.stack.services.get(S3_INIT_OF.get(name, name))
        if svc is None:
            continue
        deps = [S3_INIT_OF[name]] if one_shot else [d for d in svc.depends_on if d in wanted]
        deps += [n for n in one_shots if name in S3_INIT_DEPENDENTS and n in wanted]
        check = svc.healthcheck.model_copy(update={"test": None}) if one_shot else svc.healthcheck
        targets.append(container_target(
            feed, name, check, depends_on=deps, since=since, timeout=timeout, one_shot=one_shot,
            unhealthy_is_final=lambda: backend._clock() >= started + unhealthy_grace,
            describe="the S3 bucket set-up" if one_shot else "container"))
    rows: dict[str, dict] = {}

    def report() -> None:
        if on_progress:
            on_progress({"services": {n: dict(r) for n, r in rows.items()}})

    def changed(progress: ServiceProgress) -> None:
        rows[progress.name] = {"phase": progress.phase, "detail": progress.detail, "ready_s": progress.ready_s,
                               "last_probe": progress.last_probe}
        report()

    def reported(target: Target) -> Target:  # every look at a container shows in the progress
        def probe() -> ProbeResult:
            result = target.probe()
            rows.setdefault(target.name, {"phase": "waiting"})["last_probe"] = result.detail
            report()
            return result
        return dataclasses.replace(target, probe=probe)

    targets = [reported(t) for t in targets]

    clock = _Clock(backend._clock, backend._sleep)
    engine = WaitEngine(targets, timeout=max(0.0, started + timeout - backend._clock()), clock=clock,
                        on_change=changed, tick=backend.poll_interval,
                        should_stop=lambda: launch is not None and launch.error is not None)
    engine_started = backend._clock()  # the engine counts ready times from its own start, just after
    outcome = engine.run()
    waited = round(backend._clock() - started, 3)
    if outcome.ok:
        current = feed.latest(refresh=False)
        # ready times count from `started`; taking the engine's start from a later clock reading
        # would put a ready time after `up`'s own total (seen once in CI)
        lead = engine_started - started
        statuses = [dataclasses.replace(backend._status_of(n, current.get(n)),
                                        ready_s=round(lead + (outcome.services[n].ready_s or 0.0), 3))
                    for n in services]
        return statuses, all(outcome.services[n].probes == 1 for n in services)
    if launch is not None and launch.error is not None:
        raise launch_failed(backend, launch.error, feed, outcome)
    record = failure_record(outcome, backend._log_tail)
    record["elapsed"] = waited  # since `started`, not the engine's own start
    raise backend._unhealthy(record)


def launch_failed(backend: ComposeBackend, error: StagectlError, feed: Feed, outcome: WaitOutcome | None) -> StagectlError:
    """compose up failed (e.g. "dependency failed to start"): whose fault? A container that
    exited or turned unhealthy (s3-init included), else the first one still waiting."""
    if isinstance(error, PreflightError):
        return error
    rows = feed.latest()
    order = list(outcome.services) if outcome else [*backend.services, *backend._one_shots()]
    def failed(name: str) -> bool:
        c = rows.get(name)
        if c is None:
            return False
        if name == S3_INIT:
            return c.state == "exited" and c.exit_code != 0
        return c.state in EXITED or c.health == "unhealthy"

    failed_ones = [n for n in order if failed(n)]
    waiting = [n for n in order if outcome and outcome.services[n].phase in ("waiting", "starting")]
    root = (failed_ones or waiting or order)[0]
    c = rows.get(root)
    what = "the S3 bucket set-up" if root == S3_INIT else "container"
    state = f"{what} exited with code {c.exit_code}" if c is not None and c.state in EXITED else \
        f"container health: {c.health or c.state}" if c is not None else "no container"
    record = {"reason": "start failed", "root_cause": root, "detail": f"{state}; {error.message}",
              "log_tail": backend._log_tail(root)}
    return backend._unhealthy(record)


class _Clock:
    """The backend's injectable clock and sleep as the wait engine's Clock."""

    def __init__(self, now: Callable[[], float], sleep: Callable[[float], None]):
        self.now, self._sleep = now, sleep

    def sleep(self, seconds: float) -> None:
        self._sleep(max(0.0, seconds))
