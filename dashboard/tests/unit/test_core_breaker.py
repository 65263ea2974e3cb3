"""Circuit-breaker state machine (docs/contract.md §3), driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from inventario_dashboard.resilience.breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    breakers_from_settings,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Dependency:
    """An async dependency that fails on demand and counts how often it was really called."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.failing:
            raise ConnectionError("dependency down")
        return "ok"


def make_breaker(clock, threshold=3, timeout=20.0, half_open=2, **kw) -> tuple[CircuitBreaker, list]:
    transitions: list = []
    breaker = CircuitBreaker(
        "svc", threshold, timeout, half_open, clock=clock,
        on_transition=lambda s, a, b: transitions.append((s, a, b)), **kw,
    )
    return breaker, transitions


def fail(breaker: CircuitBreaker, dep: Dependency, times: int) -> None:
    dep.failing = True
    for _ in range(times):
        with pytest.raises(ConnectionError):
            asyncio.run(breaker.call(dep))


def succeed(breaker: CircuitBreaker, dep: Dependency, times: int = 1) -> None:
    dep.failing = False
    for _ in range(times):
        assert asyncio.run(breaker.call(dep)) == "ok"


def open_breaker(clock, **kw):
    breaker, transitions = make_breaker(clock, **kw)
    dep = Dependency()
    fail(breaker, dep, breaker.failure_threshold)
    assert breaker.state is OPEN
    return breaker, transitions, dep


@pytest.mark.parametrize("threshold", [1, 3, 5])
def test_trips_at_exactly_threshold_consecutive_failures(clock, threshold):
    failures: list[str] = []
    breaker, transitions = make_breaker(clock, threshold=threshold, on_failure=failures.append)
    dep = Dependency()
    fail(breaker, dep, threshold - 1)
    assert breaker.state is CLOSED and breaker.failure_count == threshold - 1
    fail(breaker, dep, 1)
    assert breaker.state is OPEN
    assert transitions == [("svc", CLOSED, OPEN)]
    assert failures == ["svc"] * threshold


def test_success_in_closed_resets_consecutive_failures(clock):
    breaker, _ = make_breaker(clock, threshold=3)
    dep = Dependency()
    for _ in range(5):  # 2 failures + 1 success, repeated: never 3 in a row
        fail(breaker, dep, 2)
        succeed(breaker, dep)
        assert breaker.failure_count == 0
    assert breaker.state is CLOSED


def test_async_function_failures_are_really_counted(clock):
    """The original bug: a sync decorator on `async def` saw a coroutine, never an exception."""
    breaker, _ = make_breaker(clock, threshold=2)

    async def broken() -> None:
        raise TimeoutError("slow")

    for _ in range(2):
        with pytest.raises(TimeoutError):
            asyncio.run(breaker.call(broken))  # the coroutine function itself, not a lambda
    assert breaker.state is OPEN


def test_sync_function_failures_are_counted_too(clock):
    breaker, _ = make_breaker(clock, threshold=1)

    def broken() -> None:
        raise OSError("refused")

    with pytest.raises(OSError):
        asyncio.run(breaker.call(broken))
    assert breaker.state is OPEN


def test_open_fails_fast_without_calling_the_dependency(clock):
    breaker, _, dep = open_breaker(clock, threshold=3, timeout=20.0)
    calls_before = dep.calls
    clock.advance(5)
    with pytest.raises(CircuitOpenError) as info:
        asyncio.run(breaker.call(dep))
    assert dep.calls == calls_before
    assert info.value.service == "svc"
    assert info.value.retry_after_s == pytest.approx(15.0)
    assert breaker.next_attempt_in() == pytest.approx(15.0)


def test_half_open_only_after_recovery_timeout(clock):
    breaker, transitions, _ = open_breaker(clock, timeout=20.0)
    clock.advance(19.999)
    assert breaker.state is OPEN
    clock.advance(0.001)
    assert breaker.state is HALF_OPEN
    assert breaker.next_attempt_in() is None
    assert transitions[-1] == ("svc", OPEN, HALF_OPEN)


def test_half_open_limits_concurrent_trials(clock):
    breaker, transitions, dep = open_breaker(clock, half_open=2)
    clock.advance(breaker.recovery_timeout)
    release = asyncio.Event()
    trial_calls = 0

    async def slow_ok() -> str:
        nonlocal trial_calls
        trial_calls += 1
        await release.wait()
        return "ok"

    async def scenario() -> None:
        trials = [asyncio.create_task(breaker.call(slow_ok)) for _ in range(2)]
        await asyncio.sleep(0)  # both trials are now in flight
        with pytest.raises(CircuitOpenError):
            await breaker.call(slow_ok)  # a third concurrent call is refused
        assert trial_calls == 2
        assert breaker.state is HALF_OPEN
        release.set()
        assert await asyncio.gather(*trials) == ["ok", "ok"]

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert breaker.state is CLOSED
    assert transitions[-1] == ("svc", HALF_OPEN, CLOSED)


def test_closes_only_after_half_open_max_calls_successes(clock):
    breaker, _, dep = open_breaker(clock, half_open=3)
    clock.advance(breaker.recovery_timeout)
    succeed(breaker, dep, 2)
    assert breaker.state is HALF_OPEN
    succeed(breaker, dep, 1)
    assert breaker.state is CLOSED
    assert breaker.failure_count == 0


def test_failure_in_half_open_reopens_with_a_fresh_timeout(clock):
    breaker, transitions, dep = open_breaker(clock, half_open=2, timeout=20.0)
    clock.advance(25)
    succeed(breaker, dep, 1)
    fail(breaker, dep, 1)
    assert breaker.state is OPEN
    assert transitions[-1] == ("svc", HALF_OPEN, OPEN)
    assert breaker.next_attempt_in() == pytest.approx(20.0)


def test_stale_success_does_not_close_an_open_breaker(clock):
    breaker, _ = make_breaker(clock, threshold=1)
    release = asyncio.Event()

    async def slow_ok() -> str:
        await release.wait()
        return "ok"

    async def broken() -> None:
        raise ConnectionError

    async def scenario() -> None:
        slow = asyncio.create_task(breaker.call(slow_ok))
        await asyncio.sleep(0)
        with pytest.raises(ConnectionError):
            await breaker.call(broken)
        release.set()
        assert await slow == "ok"

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert breaker.state is OPEN


def test_success_of_a_call_started_before_opening_is_not_a_trial(clock):
    breaker, _ = make_breaker(clock, threshold=1, half_open=1, timeout=10)
    release = asyncio.Event()

    async def slow_ok() -> str:
        await release.wait()
        return "ok"

    async def broken() -> None:
        raise ConnectionError

    async def scenario() -> None:
        slow = asyncio.create_task(breaker.call(slow_ok))  # admitted while CLOSED
        await asyncio.sleep(0)
        with pytest.raises(ConnectionError):
            await breaker.call(broken)
        clock.advance(10)
        assert breaker.state is HALF_OPEN
        release.set()
        assert await slow == "ok"

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert breaker.state is HALF_OPEN  # only a real trial may close it


def test_cancelled_trial_frees_its_slot_and_is_not_judged(clock):
    breaker, _, dep = open_breaker(clock, half_open=1)
    clock.advance(breaker.recovery_timeout)

    async def scenario() -> None:
        hang = asyncio.create_task(breaker.call(lambda: asyncio.sleep(60)))
        await asyncio.sleep(0)
        hang.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hang
        assert breaker.state is HALF_OPEN
        assert await breaker.call(dep) == "ok"

    dep.failing = False
    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert breaker.state is CLOSED


def test_excluded_exceptions_count_as_answers_not_failures(clock):
    breaker, _ = make_breaker(clock, threshold=1, excluded=(KeyError,))

    async def not_found() -> None:
        raise KeyError("sku")

    with pytest.raises(KeyError):
        asyncio.run(breaker.call(not_found))
    assert breaker.state is CLOSED and breaker.failure_count == 0


def test_broken_callback_does_not_break_the_breaker(clock):
    def explode(*_args) -> None:
        raise RuntimeError("metrics down")

    breaker = CircuitBreaker("svc", 1, 5, 1, clock=clock, on_transition=explode, on_failure=explode)
    dep = Dependency()
    fail(breaker, dep, 1)
    assert breaker.state is OPEN


def test_snapshot_reports_configuration_and_state(clock):
    breaker, _, _ = open_breaker(clock, threshold=4, timeout=12.5, half_open=3)
    assert breaker.snapshot() == {
        "state": "open", "failure_count": 4, "failure_threshold": 4,
        "recovery_timeout_s": 12.5, "half_open_max_calls": 3,
    }


@pytest.mark.parametrize("args", [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_rejects_nonsense_configuration(args):
    with pytest.raises(ValueError):
        CircuitBreaker("svc", *args)


def test_breakers_from_settings_use_each_services_variables(make_settings, clock):
    s = make_settings(
        db_cb_failure_threshold=7, db_cb_recovery_timeout=11, db_cb_half_open_requests=3,
        openai_cb_failure_threshold=8, openai_cb_recovery_timeout=12, openai_cb_half_open_requests=4,
        redis_cb_failure_threshold=9, redis_cb_recovery_timeout=13, redis_cb_half_open_requests=5,
        s3_cb_failure_threshold=10, s3_cb_recovery_timeout=14, s3_cb_half_open_requests=6,
    )
    breakers = breakers_from_settings(s, clock=clock)
    got = {name: (b.failure_threshold, b.recovery_timeout, b.half_open_max_calls) for name, b in breakers.items()}
    assert got == {"database": (7, 11, 3), "openai": (8, 12, 4), "redis": (9, 13, 5), "s3": (10, 14, 6)}


def test_default_breaker_settings_match_contract_table(make_settings):
    got = {n: (b.failure_threshold, b.recovery_timeout, b.half_open_max_calls)
           for n, b in breakers_from_settings(make_settings()).items()}
    assert got == {"openai": (5, 30, 2), "database": (3, 20, 1), "redis": (5, 15, 2), "s3": (4, 25, 2)}


def test_neutral_exception_is_neither_failure_nor_half_open_success():
    asyncio.run(_neutral_scenario())


async def _neutral_scenario():
    from inventario_dashboard.resilience.breaker import BreakerState, CircuitBreaker
    clock = [0.0]
    breaker = CircuitBreaker("db", failure_threshold=1, recovery_timeout=5, half_open_max_calls=1,
                             clock=lambda: clock[0])

    def refused():
        raise ValueError("the request's data")
    is_input = lambda exc: isinstance(exc, ValueError)  # noqa: E731
    for _ in range(3):
        with pytest.raises(ValueError):
            await breaker.call(refused, neutral=is_input)
    assert breaker.state is BreakerState.CLOSED and breaker.failure_count == 0

    def down():
        raise ConnectionError("refused")
    with pytest.raises(ConnectionError):
        await breaker.call(down, neutral=is_input)
    assert breaker.state is BreakerState.OPEN
    clock[0] = 6.0
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(ValueError):   # a neutral trial frees its slot and closes nothing
        await breaker.call(refused, neutral=is_input)
    assert breaker.state is BreakerState.HALF_OPEN
    assert await breaker.call(lambda: 1) == 1   # the slot is free again: a real trial can run
    assert breaker.state is BreakerState.CLOSED
