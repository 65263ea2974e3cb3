"""Guard.read: an idempotent read retried up to HTTP_RETRY_ATTEMPTS with waits of 0.05 s, 0.1 s, …,
never once the breaker is open, never for an error of the request's own data.

Faults caught: a read not retried, retried more (or less) often than configured, retried without
waiting or on another schedule, retried against an open breaker or on a client input error."""
from __future__ import annotations

import asyncio

import pytest

from inventario_dashboard.clients.guard import ClientInputError, Guard, ServiceCallFailed
from inventario_dashboard.resilience.breaker import CircuitBreaker


class Flaky:
    def __init__(self, failures: int, error: type[Exception] = ConnectionError):
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("boom")
        return "row"


@pytest.fixture
def waits(monkeypatch):
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds, *args, **kwargs):
        recorded.append(round(seconds, 6))
        await real_sleep(0)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    return recorded


def _guard(attempts: int = 3, threshold: int = 100, input_error=lambda exc: isinstance(exc, ValueError)):
    reported: list[str] = []
    breaker = CircuitBreaker("database", threshold, 20, 1)
    return Guard("database", breaker, reported.append, retry_attempts=attempts, is_input_error=input_error), reported


@pytest.mark.parametrize(("failures", "calls", "expected_waits"), [(0, 1, []), (1, 2, [0.05]), (2, 3, [0.05, 0.1])])
def test_a_read_is_retried_until_it_succeeds(waits, failures, calls, expected_waits):
    guard, reported = _guard()
    fn = Flaky(failures)
    assert asyncio.run(guard.read(fn)) == "row"
    assert (fn.calls, waits, reported) == (calls, expected_waits, ["database"] * failures)


def test_a_read_failing_every_attempt_raises_after_the_configured_number(waits):
    guard, reported = _guard(attempts=4)
    fn = Flaky(10)
    with pytest.raises(ServiceCallFailed) as failed:
        asyncio.run(guard.read(fn))
    assert failed.value.reason == "ConnectionError" and fn.calls == 4
    assert waits == [0.05, 0.1, 0.2] and len(reported) == 4


def test_a_single_attempt_is_not_retried(waits):
    guard, _ = _guard(attempts=1)
    fn = Flaky(1)
    with pytest.raises(ServiceCallFailed):
        asyncio.run(guard.read(fn))
    assert (fn.calls, waits) == (1, [])


def test_an_open_breaker_ends_the_retries(waits):
    guard, _ = _guard(attempts=3, threshold=2)
    fn = Flaky(10)
    with pytest.raises(ServiceCallFailed) as failed:
        asyncio.run(guard.read(fn))
    assert failed.value.reason == "circuit_open" and fn.calls == 2   # the third attempt met the open breaker
    with pytest.raises(ServiceCallFailed) as again:
        asyncio.run(guard.read(fn))
    assert again.value.reason == "circuit_open" and fn.calls == 2 and waits == [0.05, 0.1]   # none more


def test_an_input_error_is_neither_retried_nor_reported(waits):
    guard, reported = _guard()
    fn = Flaky(1, error=ValueError)
    with pytest.raises(ClientInputError):
        asyncio.run(guard.read(fn))
    assert (fn.calls, waits, reported) == (1, [], [])
