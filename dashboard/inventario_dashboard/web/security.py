"""API-key auth (constant time), the rate limiter and the feature gate, as FastAPI dependencies."""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time

from fastapi import Depends, Request

from ..clients.guard import ServiceCallFailed
from ..services import Services, get_services
from . import context
from .errors import ApiError, FeatureUnavailable

log = logging.getLogger("inventario_dashboard.security")


def presented_key(request: Request) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer`` (Prometheus can only send the latter)."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def key_is_valid(services: Services, given: str) -> bool:
    expected = services.settings.dashboard_api_key.get_secret_value()
    # An empty configured key opens nothing (staging refuses to start without one anyway).
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def require_api_key(request: Request, services: Services = Depends(get_services)) -> str:
    """401 ``missing_api_key`` / ``invalid_api_key`` unless a valid key is presented."""
    given = presented_key(request)
    if not given:
        raise ApiError(401, "missing_api_key", headers={"WWW-Authenticate": "Bearer"})
    if not key_is_valid(services, given):
        raise ApiError(401, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return given


class LocalLimiter:
    """Per-process fixed-window counter: takes over when Redis cannot count (limits never off).

    Hand-rolled because it is a dict and a window index; bounded by dropping old windows.
    """

    def __init__(self, max_keys: int = 50_000):
        self._counts: dict[tuple[str, int], int] = {}
        self._max_keys = max_keys

    def hit(self, identity: str, window_index: int) -> int:
        if len(self._counts) >= self._max_keys:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window_index}
        key = (identity, window_index)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]


async def rate_limit(request: Request, api_key: str = Depends(require_api_key),
                     services: Services = Depends(get_services)) -> None:
    """DASHBOARD_RATELIMIT_REQUESTS per DASHBOARD_RATELIMIT_WINDOW per key and client on /api/*."""
    s = services.settings
    if not s.dashboard_ratelimit_enabled:
        return
    limit, window = int(s.dashboard_ratelimit_requests), int(s.dashboard_ratelimit_window)
    now = time.time()   # wall clock on purpose: windows are shared between workers via Redis
    index = int(now // window)
    client = request.client.host if request.client else "-"
    identity = hashlib.sha256(api_key.encode()).hexdigest()[:16] + ":" + client
    count = None
    if services.manager.feature_available("rate_limiting"):
        try:
            count = await services.redis.rate_hit(f"inventario:rl:{identity}:{index}", window)
        except ServiceCallFailed:
            count = None
    if count is None:
        services.fallback("redis")
        count = services.local_limiter.hit(identity, index)
    reset = max(1, math.ceil((index + 1) * window - now))
    context.current().extra_headers.update({
        "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - count)),
        "X-RateLimit-Reset": str(reset)})
    if count > limit:
        services.metrics.rate_limited.inc()
        raise ApiError(429, "rate_limited", headers={"Retry-After": str(reset)},
                       limit=limit, window_s=window)


def retry_after_s(services: Services) -> float:
    """When a client should try again: the next probe round, or the next half-open trial."""
    retry = float(services.settings.health_check_interval)
    prediction = services.manager.recovery_prediction() or {}
    trials = [v for v in (prediction.get("breakers") or {}).values() if v is not None]
    return max(retry, min(trials)) if trials else retry


def feature(name: str):
    """Dependency: 503 ``feature_unavailable`` unless the manager allows feature ``name`` now."""
    async def gate(services: Services = Depends(get_services)) -> None:
        context.current().feature = name
        if not services.manager.feature_available(name):
            raise FeatureUnavailable(name, services.manager.level.name, retry_after_s(services))
    gate.__name__ = f"feature_{name}"
    return gate


def service_failure_response_fields(services: Services, exc: ServiceCallFailed) -> dict:
    """Body of the 503 when a dependency failed in the middle of a request."""
    return {"feature": context.current().feature, "degradation_level": services.manager.level.name,
            "service": exc.service, "reason": "dependency_call_failed"}
