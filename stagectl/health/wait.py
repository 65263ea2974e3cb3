"""The one wait engine: start services when their dependencies are healthy, probe until healthy,
fail fast on a crash, and never wait past a global deadline (monotonic clock, injectable).

Per service (Compose/Kubernetes semantics):
- probe every `start_interval` until the first success (then it is healthy);
- failures while `start_period` has not elapsed since the start are not counted;
- `retries` consecutive counted failures → unhealthy (a failure, reported with the last probe);
  a probe result marked `final` (a verdict reached elsewhere, e.g. Docker's healthcheck) at once;
- the process exiting → "crashed (exit N)" / "killed by signal N" at once, never a timeout.
A failure ends the wait: services depending on the failed one are ABORTED (never started).
Probes run in an executor without blocking the loop, so a hanging probe cannot delay noticing
that another service crashed; each probe is itself bounded by its `timeout`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable
from typing import Literal, Protocol

from stagectl.config.model import Healthcheck
from stagectl.health.probes import Probe, ProbeResult

Phase = Literal["pending", "starting", "waiting", "healthy", "failed", "aborted"]


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: deadlines never follow wall-clock jumps."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Handle(Protocol):
    def exit_status(self) -> int | None:
        """The exit code (negative: killed by that signal) once the process ended, else None."""


@dataclasses.dataclass
class Target:
    """One service as the engine sees it."""

    name: str
    check: Healthcheck
    probe: Probe
    start: Callable[[], Handle]  # may block (e.g. initdb); runs in the executor
    depends_on: list[str] = dataclasses.field(default_factory=list)
    describe_exit: Callable[[int], str] = lambda code: f"crashed (exit {code})" if code >= 0 else f"killed by signal {-code}"


@dataclasses.dataclass
class ServiceProgress:
    name: str
    phase: Phase = "pending"
    ready_s: float | None = None
    detail: str = ""
    last_probe: str = ""
    started_at: float | None = None
    counted_failures: int = 0
    probes: int = 0


@dataclasses.dataclass
class WaitOutcome:
    ok: bool
    services: dict[str, ServiceProgress]
    elapsed: float
    root_cause: str | None = None  # the service whose failure ended the wait
    reason: str = ""  # "crashed" | "unhealthy" | "start failed" | "timeout" | "interrupted" | ""
    handles: dict[str, Handle] = dataclasses.field(default_factory=dict)


class InlineExecutor:
    """Runs submitted work immediately (deterministic unit tests with a fake clock)."""

    def submit(self, fn, *args):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class WaitEngine:
    """Start `targets` in dependency order and wait until all are healthy (or one fails)."""

    def __init__(
        self,
        targets: list[Target],
        *,
        timeout: float,
        clock: Clock | None = None,
        executor=None,
        on_change: Callable[[ServiceProgress], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        tick: float = 0.05,
    ):
        self.targets = {t.name: t for t in targets}
        self.timeout = timeout
        self.clock = clock or MonotonicClock()
        self.executor = executor or InlineExecutor()
        self.on_change = on_change or (lambda progress: None)
        self.should_stop = should_stop
        self.tick = tick
        self.progress = {t.name: ServiceProgress(t.name) for t in targets}
        self.handles: dict[str, Handle] = {}
        self._starting: dict[str, concurrent.futures.Future] = {}
        self._probing: dict[str, concurrent.futures.Future] = {}
        self._next_probe: dict[str, float] = {}

    def _set(self, name: str, phase: Phase, detail: str = "") -> None:
        progress = self.progress[name]
        progress.phase = phase
        progress.detail = detail
        self.on_change(progress)

    def _dependents(self, name: str) -> set[str]:
        out, frontier = set(), [name]
        while frontier:
            cur = frontier.pop()
            for n, t in self.targets.items():
                if cur in t.depends_on and n not in out:
                    out.add(n)
                    frontier.append(n)
        return out

    def _fail(self, name: str, reason: str, detail: str, t0: float) -> WaitOutcome:
        self._set(name, "failed", detail)
        for dep in sorted(self._dependents(name)):
            if self.progress[dep].phase == "pending":
                self._set(dep, "aborted", f"ABORTED: prerequisite {name} failed")
        return self._outcome(False, t0, root_cause=name, reason=reason)

    def _outcome(self, ok: bool, t0: float, *, root_cause: str | None = None, reason: str = "") -> WaitOutcome:
        return WaitOutcome(ok, self.progress, self.clock.now() - t0, root_cause, reason, dict(self.handles))

    def run(self) -> WaitOutcome:
        t0 = self.clock.now()
        deadline = t0 + self.timeout
        while True:
            now = self.clock.now()
            if self.should_stop():
                return self._outcome(False, t0, reason="interrupted")
            healthy_before = self._healthy_count()
            failure = self._launch_ready(now) or self._collect_starts(t0) or self._check_services(t0)
            if failure:
                return failure
            if all(p.phase == "healthy" for p in self.progress.values()):
                return self._outcome(True, t0)
            now = self.clock.now()
            if now >= deadline:
                return self._outcome(False, t0, root_cause=self._timeout_root_cause(), reason="timeout")
            if self._healthy_count() > healthy_before:
                continue  # a service just became healthy: start its dependents now, not a tick later
            self.clock.sleep(min(self.tick, deadline - now))

    def _healthy_count(self) -> int:
        return sum(p.phase == "healthy" for p in self.progress.values())

    def _timeout_root_cause(self) -> str | None:
        """At the deadline: the first service still not healthy although its dependencies are —
        the one holding the others up (dependents of it merely wait)."""
        for name, target in self.targets.items():
            progress = self.progress[name]
            if progress.phase in ("waiting", "starting") and all(
                self.progress[d].phase == "healthy" for d in target.depends_on
            ):
                return name
        return None

    def _launch_ready(self, now: float) -> WaitOutcome | None:
        for name, target in self.targets.items():
            progress = self.progress[name]
            if progress.phase == "pending" and all(self.progress[d].phase == "healthy" for d in target.depends_on):
                progress.started_at = now
                self._set(name, "starting")
                self._starting[name] = self.executor.submit(target.start)
        return None

    def _collect_starts(self, t0: float) -> WaitOutcome | None:
        for name, future in list(self._starting.items()):
            if not future.done():
                continue
            del self._starting[name]
            try:
                self.handles[name] = future.result()
            except Exception as exc:  # OSError from exec, initdb failure, ...
                return self._fail(name, "start failed", f"failed to start: {exc}", t0)
            self.progress[name].started_at = self.clock.now()
            self._next_probe[name] = self.clock.now()
            self._set(name, "waiting")
        return None

    def _check_services(self, t0: float) -> WaitOutcome | None:
        for name, progress in self.progress.items():
            if progress.phase != "waiting":
                continue
            target, handle = self.targets[name], self.handles[name]
            code = handle.exit_status()
            if code is not None:
                return self._fail(name, "crashed", target.describe_exit(code), t0)
            future = self._probing.get(name)
            if future is None:
                if self.clock.now() >= self._next_probe[name]:
                    self._probing[name] = self.executor.submit(self._timed_probe, target)
                    future = self._probing[name]
                else:
                    continue
            if not future.done():
                continue
            del self._probing[name]
            result: ProbeResult = future.result()
            now = self.clock.now()
            progress.probes += 1
            progress.last_probe = result.detail
            if result.ok:
                progress.ready_s = round(now - t0, 3)
                self._set(name, "healthy", result.detail)
                continue
            code = handle.exit_status()  # a probe failing because the process just died is a crash
            if code is not None:
                return self._fail(name, "crashed", target.describe_exit(code), t0)
            if result.final:
                return self._fail(name, "unhealthy", f"unhealthy: {result.detail}", t0)
            if progress.started_at is not None and now - progress.started_at >= target.check.start_period:
                progress.counted_failures += 1
                if progress.counted_failures >= target.check.retries:
                    detail = (f"unhealthy: {progress.counted_failures} consecutive failed probes "
                              f"(last: {result.detail})")
                    return self._fail(name, "unhealthy", detail, t0)
            self._next_probe[name] = now + target.check.start_interval
        return None

    @staticmethod
    def _timed_probe(target: Target) -> ProbeResult:
        try:
            return target.probe()
        except Exception as exc:  # a probe must not kill the engine; it counts as a failure
            return ProbeResult(False, f"probe error: {type(exc).__name__}: {exc}"[:200])
