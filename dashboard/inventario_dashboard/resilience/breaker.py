"""Async circuit breaker (docs/contract.md §3): CLOSED → OPEN → HALF_OPEN → CLOSED.

Why not `purgatory-circuitbreaker` (0.7.2, installed and evaluated first): its state model
(`purgatory/domain/model.py`) cannot express the contract —
  * the clock is hard-wired to `time.time()` in `OpenedState`, so the state machine cannot be
    driven by an injected fake clock (and wall time jumps with NTP; we want a monotonic clock);
  * HALF_OPEN admits every request: there is no limit of `half_open_max_calls` concurrent trials;
  * the first success in HALF_OPEN closes the circuit; the contract needs that many successes;
  * transitions arrive as `ContextChanged(name, state, opened_at)` events through an async
    message bus without the previous state, not as a synchronous (service, from, to) callback.
So this module is a small, fully tested state machine instead (~150 lines).
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from inventario_dashboard.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

# Retry-After hint while the half-open trial slots are taken: a trial is already in flight.
HALF_OPEN_BUSY_RETRY_S = 1.0


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """Raised instead of calling the dependency while the breaker refuses calls."""

    def __init__(self, service: str, retry_after_s: float) -> None:
        super().__init__(f"circuit breaker of {service} is open; retry in {retry_after_s:.1f}s")
        self.service = service
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    """Counts consecutive failures of async (or sync) calls and fails fast while OPEN.

    Exceptions raised by `fn` count as failures (re-raised unchanged) unless their type is in
    `excluded` (the dependency answered, e.g. "not found"), which counts as a success.
    Cancellation counts as neither. A result that arrives after the state has changed since
    the call started (a stale call) is ignored.
    """

    def __init__(
        self,
        service: str,
        failure_threshold: int,
        recovery_timeout: float,
        half_open_max_calls: int,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[str, BreakerState, BreakerState], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        excluded: tuple[type[BaseException], ...] = (),
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or recovery_timeout <= 0:
            raise ValueError("failure_threshold and half_open_max_calls must be >= 1, recovery_timeout > 0")
        self.service = service
        self.failure_threshold = failure_threshold
        self.recovery_timeout = float(recovery_timeout)
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._on_transition = on_transition
        self._on_failure = on_failure
        self._excluded = excluded
        self._state = BreakerState.CLOSED
        self._generation = 0  # bumped on every transition, to recognise stale call outcomes
        self._opened_at = 0.0
        self._in_flight = 0  # half-open trial calls running now
        self._trial_successes = 0
        self.failure_count = 0

    @property
    def state(self) -> BreakerState:
        """Current state; OPEN turns HALF_OPEN once `recovery_timeout` has passed."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.recovery_timeout:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def next_attempt_in(self) -> float | None:
        """Seconds until the half-open trial while OPEN, else None."""
        if self.state is not BreakerState.OPEN:
            return None
        return max(0.0, self._opened_at + self.recovery_timeout - self._clock())

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "failure_count": self.failure_count,
            "failure_threshold": self.failure_threshold,
            "recovery_timeout_s": self.recovery_timeout,
            "half_open_max_calls": self.half_open_max_calls,
        }

    async def call(self, fn: Callable[[], Awaitable[T] | T],
                   neutral: Callable[[BaseException], bool] | None = None) -> T:
        """Run `fn()` (awaiting its result when awaitable) through the breaker.

        An exception for which `neutral(exc)` is true is judged like a cancellation: neither a
        failure nor a success (the request's own data was refused; the dependency said nothing
        about its health, and a half-open trial must not close the circuit on it)."""
        generation, trial = self._admit()
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
        except self._excluded:
            self._record(generation, trial, ok=True)
            raise
        except Exception as exc:
            if neutral is not None and neutral(exc):
                self._release(generation, trial)
            else:
                self._record(generation, trial, ok=False)
            raise
        except BaseException:  # cancellation: free the trial slot, judge nothing
            self._release(generation, trial)
            raise
        self._record(generation, trial, ok=True)
        return result

    # --- state machine
    def _admit(self) -> tuple[int, bool]:
        state = self.state
        if state is BreakerState.OPEN:
            raise CircuitOpenError(self.service, self.next_attempt_in() or 0.0)
        if state is BreakerState.HALF_OPEN:
            if self._in_flight + self._trial_successes >= self.half_open_max_calls:
                raise CircuitOpenError(self.service, HALF_OPEN_BUSY_RETRY_S)
            self._in_flight += 1
            return self._generation, True
        return self._generation, False

    def _release(self, generation: int, trial: bool) -> None:
        if trial and generation == self._generation:
            self._in_flight -= 1

    def _record(self, generation: int, trial: bool, ok: bool) -> None:
        if generation != self._generation:
            return  # the state moved on while this call ran; its outcome says nothing now
        if trial:
            self._in_flight -= 1
        if ok:
            if self._state is BreakerState.HALF_OPEN:
                self._trial_successes += 1
                if self._trial_successes >= self.half_open_max_calls:
                    self._transition(BreakerState.CLOSED)
            else:
                self.failure_count = 0
            return
        self.failure_count += 1
        self._notify(self._on_failure, self.service)
        if self._state is BreakerState.HALF_OPEN or self.failure_count >= self.failure_threshold:
            self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        self._generation += 1
        self._in_flight = 0
        self._trial_successes = 0
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        elif new is BreakerState.CLOSED:
            self.failure_count = 0
        log.info("circuit breaker %s: %s -> %s", self.service, old.value, new.value)
        self._notify(self._on_transition, self.service, old, new)

    @staticmethod
    def _notify(callback: Callable[..., None] | None, *args: Any) -> None:
        # A failing metrics hook must not corrupt the breaker or the caller's outcome.
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception("circuit breaker callback %r failed", callback)


def breakers_from_settings(
    s: Settings, clock: Callable[[], float] = time.monotonic, **callbacks: Any
) -> dict[str, CircuitBreaker]:
    """One breaker per service (database, openai, redis, s3) from the `*_CB_*` variables.

    `callbacks` are passed to every breaker: on_transition=, on_failure=, excluded=.
    """
    from inventario_dashboard.resilience.levels import SERVICES

    return {
        name: CircuitBreaker(name, *s.breaker_config(name), clock=clock, **callbacks) for name in SERVICES
    }
