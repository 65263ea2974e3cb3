"""Degradation manager (docs/contract.md §4): probes → service statuses → score → level.

Worsening applies at once; improving needs DEGRADATION_RECOVERY_CHECKS consecutive evaluations
better than the current level (then the level moves to the worst of those), so a flapping
dependency cannot flap the level. Before the first evaluation nothing is known: every service
is "down" ("not checked yet") and the level is EMERGENCY; the first evaluation sets the level
directly (recorded as a transition from EMERGENCY), since there is no earlier level whose
recovery it would be.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from inventario_dashboard.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from inventario_dashboard.resilience.features import all_features, feature_available
from inventario_dashboard.resilience.levels import SERVICES, STATUS_VALUE, Level, health_score, level_for
from inventario_dashboard.settings import Settings

log = logging.getLogger(__name__)
MAX_TRANSITIONS = 100
MAX_EPISODES = 20
MAX_ERROR_CHARS = 200

Status = Literal["up", "degraded", "down"]


@dataclass
class ServiceHealth:
    status: Status
    latency_ms: float | None
    last_check: str | None  # ISO 8601, UTC
    last_error: str | None


class DegradationManager:
    """Owns the live health picture; the app reads it and registers listeners for metrics."""

    def __init__(
        self,
        settings: Settings,
        breakers: dict[str, CircuitBreaker],
        probes: dict[str, Callable[[], Awaitable[None]]],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        for what, mapping in (("breakers", breakers), ("probes", probes)):
            if set(mapping) != set(SERVICES):
                raise ValueError(f"{what} must cover exactly {SERVICES}, got {sorted(mapping)}")
        self.settings = settings
        self.breakers = breakers
        self._probes = probes
        self._clock = clock
        self._wall_clock = wall_clock
        self._listeners: list[Callable[[DegradationManager], None]] = []
        self._abandoned: set[asyncio.Task] = set()  # timed-out probes still winding down
        self.services: dict[str, ServiceHealth] = {
            name: ServiceHealth("down", None, None, "not checked yet") for name in SERVICES
        }
        self.score = 0.0
        self.level = Level.EMERGENCY
        self._evaluated = False
        self._better_streak: list[Level] = []  # targets of consecutive evaluations better than level
        self._transitions: deque[dict[str, Any]] = deque(maxlen=MAX_TRANSITIONS)
        self._episodes: deque[float] = deque(maxlen=MAX_EPISODES)  # seconds per past degradation
        self._episode_start: float | None = None
        # bumped after every evaluation and reported failure: what /health reports from here
        # (statuses, score, level, features, transitions) changes only then
        self.version = 0

    # --- evaluation
    async def evaluate_once(self) -> None:
        """Probe every service concurrently, then recompute score and level and notify."""
        results = await asyncio.gather(*(self._check(name) for name in SERVICES))
        self.services.update(zip(SERVICES, results))
        self._apply(self._target_level(), counts_as_evaluation=True)

    async def run(self) -> None:
        """Evaluate every HEALTH_CHECK_INTERVAL seconds until cancelled (a changed interval takes
        effect at once: `set_interval` ends the current pause)."""
        self._interval_changed = asyncio.Event()
        while True:
            await self.evaluate_once()
            self._interval_changed.clear()
            try:
                await asyncio.wait_for(self._interval_changed.wait(), timeout=self.settings.health_check_interval)
            except asyncio.TimeoutError:
                pass

    def set_interval(self, seconds: float) -> float:
        """Change the evaluation interval at run time (the authenticated admin endpoint, used by
        stagectl's chaos run on a stack brought up with a slow one); returns the previous value."""
        previous = float(self.settings.health_check_interval)
        self.settings.health_check_interval = float(seconds)
        changed = getattr(self, "_interval_changed", None)
        if changed is not None:
            changed.set()
        return previous

    def report_failure(self, service: str) -> None:
        """A real call to `service` failed: mark it down now and worsen the level if needed."""
        previous = self.services[service]
        self.services[service] = ServiceHealth("down", previous.latency_ms, self._now_iso(), "request failed")
        self._better_streak.clear()  # fresh bad evidence breaks any run of good evaluations
        self._apply(self._target_level(), counts_as_evaluation=False)

    async def _bounded(self, name: str, timeout: float) -> None:
        """Run one probe for at most `timeout` seconds.

        Not asyncio.wait_for: after a timeout it cancels the probe and then *waits for it to
        finish*, and a probe whose clean-up blocks on a frozen peer (psycopg's pool returning a
        connection to a SIGSTOPped server) never finishes — the whole evaluation loop would hang
        with /health frozen at its last answer. Here the cancelled probe is left to finish on its
        own; we keep a reference so it is not garbage-collected mid-flight."""
        task = asyncio.ensure_future(self._probes[name]())
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if task in done:
            return task.result()
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget_abandoned)
        raise asyncio.TimeoutError

    def _forget_abandoned(self, task: asyncio.Task) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log "exception was never retrieved"

    async def _check(self, name: str) -> ServiceHealth:
        breaker = self.breakers[name]
        timeout = self.settings.health_check_timeout
        started = self._clock()
        status: Status
        latency: float | None = None
        error: str | None = None
        try:
            await breaker.call(lambda: self._bounded(name, timeout))  # type: ignore[arg-type,return-value]  # mypy infers Never for Awaitable[T] | T
        except CircuitOpenError as exc:
            status, error = "down", str(exc)
        except asyncio.TimeoutError:
            status, error = "down", f"probe timed out after {timeout:g}s"
        except Exception as exc:  # any probe failure means "down"; keep the reason for /health
            status, error = "down", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        else:
            latency = (self._clock() - started) * 1000.0
            status = "degraded" if latency > self.settings.health_budget_ms(name) else "up"
        if breaker.state is BreakerState.HALF_OPEN:
            status = "degraded"  # trial traffic only: working, but not trusted yet
            if error is not None and error.startswith("circuit breaker"):
                error = "circuit breaker half-open: trial calls in flight"
        return ServiceHealth(status, latency, self._now_iso(), error)

    def _target_level(self) -> Level:
        values = {name: STATUS_VALUE[health.status] for name, health in self.services.items()}
        self.score = health_score(values, self.settings.service_weights)
        all_up = all(health.status == "up" for health in self.services.values())
        return level_for(self.score, all_up, self.settings.thresholds)

    def _apply(self, target: Level, counts_as_evaluation: bool) -> None:
        if not self._evaluated:
            self._evaluated = counts_as_evaluation
            if counts_as_evaluation and target != self.level:
                self._move_to(target)
        elif target > self.level:
            self._better_streak.clear()
            self._move_to(target)
        elif target < self.level and counts_as_evaluation:
            self._better_streak.append(target)
            if len(self._better_streak) >= self.settings.degradation_recovery_checks:
                self._move_to(max(self._better_streak))
                self._better_streak.clear()
        elif target == self.level:
            self._better_streak.clear()
        if self._evaluated:
            self._track_episode()
        self.version += 1
        self._notify_listeners()

    def _move_to(self, new: Level) -> None:
        old, self.level = self.level, new
        record = {"from": old.name, "to": new.name, "score": self.score, "at": self._now_iso()}
        self._transitions.append(record)
        log.info("degradation level %s -> %s (score %.1f)", old.name, new.name, self.score)

    def _track_episode(self) -> None:
        """A degradation episode runs from leaving OPTIMAL (or starting below it) to OPTIMAL."""
        now = self._clock()
        if self.level != Level.OPTIMAL and self._episode_start is None:
            self._episode_start = now
        elif self.level == Level.OPTIMAL and self._episode_start is not None:
            self._episodes.append(now - self._episode_start)
            self._episode_start = None

    def _notify_listeners(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # a broken metrics hook must not stop health evaluation
                log.exception("degradation listener %r failed", listener)

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self._wall_clock(), tz=timezone.utc).isoformat()

    # --- queries
    def add_listener(self, fn: Callable[[DegradationManager], None]) -> None:
        """`fn(manager)` runs after every evaluation and every reported failure."""
        self._listeners.append(fn)

    def service_up(self, name: str) -> bool:
        """Up for feature purposes: "up" or "degraded" (slow but working)."""
        return self.services[name].status != "down"

    def _services_up(self) -> dict[str, bool]:
        return {name: self.service_up(name) for name in SERVICES}

    def _flags(self) -> dict[str, bool]:
        # Settings.feature_flags builds its dict from every model field: ~50 us, asked several
        # times per request. The flags are fixed for the settings object's life.
        cached = self.__dict__.get("_flags_cache")
        if cached is None or cached[0] is not self.settings:
            cached = self.__dict__["_flags_cache"] = (self.settings, self.settings.feature_flags)
        return cached[1]

    def features(self) -> dict[str, bool]:
        return all_features(self.level, self._services_up(), self._flags())

    def feature_available(self, name: str) -> bool:
        return feature_available(name, self.level, self._services_up(), self._flags())

    def transitions(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last `limit` transitions ({"from","to","score","at"}), newest last."""
        return list(self._transitions)[-limit:] if limit > 0 else []

    def recovery_prediction(self) -> dict[str, Any] | None:
        """None when OPTIMAL (or prediction disabled); else the expected recovery and breaker ETAs.

        `expected_recovery_s` is the mean duration of the last 20 degradation episodes, or None
        when no episode has ended yet. `breakers` maps each OPEN breaker to seconds until its
        half-open trial. `degraded_for_s` is how long the current episode has lasted.
        """
        if not self.settings.degradation_recovery_prediction or self.level == Level.OPTIMAL:
            return None
        breakers = {}
        for name, breaker in self.breakers.items():
            eta = breaker.next_attempt_in()
            if eta is not None:
                breakers[name] = eta
        return {
            "expected_recovery_s": statistics.fmean(self._episodes) if self._episodes else None,
            "degraded_for_s": None if self._episode_start is None else self._clock() - self._episode_start,
            "breakers": breakers,
        }
