"""One place where a service call meets its circuit breaker.

Every real call of a client goes through ``Guard.call`` (or ``Guard.read`` for idempotent reads,
retried with tenacity). A failure is counted by the breaker, reported to the degradation manager
(so the level reacts before the next probe round) and turned into ``ServiceCallFailed``, which the
app answers with an honest 503.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from ..resilience.breaker import CircuitBreaker, CircuitOpenError

T = TypeVar("T")
log = logging.getLogger("inventario_dashboard.clients")
_FIRST_RETRY_WAIT_S = 0.05   # the wait before the second attempt; it doubles up to the maximum
_MAX_RETRY_WAIT_S = 0.5


class ServiceCallFailed(Exception):
    """A dependency call failed or its breaker is open; ``retry_after_s`` hints when to retry."""

    def __init__(self, service: str, reason: str, retry_after_s: float = 1.0):
        super().__init__(f"{service}: {reason}")
        self.service, self.reason, self.retry_after_s = service, reason, retry_after_s


class ClientInputError(Exception):
    """The dependency refused the request's data (or it could not be encoded for it): a 4xx for
    the client, never counted by the breaker and never retried."""

    def __init__(self, service: str, reason: str):
        super().__init__(f"{service}: {reason}")
        self.service, self.reason = service, reason


def _never(_: BaseException) -> bool:
    return False


class Guard:
    """Runs calls of one service through its breaker and reports failures.

    ``is_input_error(exc)`` names the exceptions the request's data caused (see input_errors):
    they become ClientInputError, and the breaker judges nothing."""

    def __init__(self, service: str, breaker: CircuitBreaker, report_failure: Callable[[str], None],
                 retry_attempts: int = 1, is_input_error: Callable[[BaseException], bool] = _never):
        self.service = service
        self.breaker = breaker
        self._report_failure = report_failure
        self._attempts = max(1, retry_attempts)
        self._is_input_error = is_input_error

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """One attempt through the breaker; raises ServiceCallFailed on failure or open breaker,
        ClientInputError when the request's data was refused."""
        try:
            return await self.breaker.call(fn, neutral=self._is_input_error)
        except CircuitOpenError as exc:
            raise ServiceCallFailed(self.service, "circuit_open",
                                    getattr(exc, "retry_after_s", None) or 1.0) from exc
        except Exception as exc:
            if self._is_input_error(exc):
                log.info("%s refused the request's data: %s", self.service, type(exc).__name__)
                raise ClientInputError(self.service, type(exc).__name__) from exc
            # any failure of the dependency (network, protocol, timeout)
            log.warning("%s call failed: %s", self.service, type(exc).__name__)
            self._report_failure(self.service)
            raise ServiceCallFailed(self.service, type(exc).__name__) from exc

    async def read(self, fn: Callable[[], Awaitable[T]]) -> T:
        """An idempotent read: retried up to HTTP_RETRY_ATTEMPTS, never once the breaker is open.

        The first attempt runs outside tenacity: nearly every read succeeds at once, and setting
        up an AsyncRetrying per call cost ~5% of the CPU of a cached read. The retries then wait
        as one tenacity loop over every attempt would: 0.05 s, 0.1 s, 0.2 s … (at most 0.5 s)."""
        try:
            return await self.call(fn)
        except ServiceCallFailed as exc:
            if exc.reason == "circuit_open" or self._attempts == 1:
                raise
        await asyncio.sleep(_FIRST_RETRY_WAIT_S)
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self._attempts - 1),
                    wait=wait_exponential(multiplier=2 * _FIRST_RETRY_WAIT_S, max=_MAX_RETRY_WAIT_S),
                    retry=retry_if_not_exception_type((_NoRetry, ClientInputError)), reraise=True):
                with attempt:
                    return await self._call_final_if_open(fn)
        except _NoRetry as stop:
            raise stop.inner from None
        raise AssertionError("unreachable")   # AsyncRetrying either returns or reraises

    async def _call_final_if_open(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self.call(fn)
        except ServiceCallFailed as exc:
            if exc.reason == "circuit_open":
                raise _NoRetry(exc) from exc
            raise


class _NoRetry(Exception):
    def __init__(self, inner: ServiceCallFailed):
        super().__init__(str(inner))
        self.inner = inner
