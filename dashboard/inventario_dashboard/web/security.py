"""API-key auth (constant time), the rate limiter and the feature gate, as FastAPI dependencies."""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections import OrderedDict

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
    return checked_key(request, services)


def checked_key(request: Request, services: Services) -> str:
    """The presented key if valid, else ApiError 401 (the body of ``require_api_key``)."""
    given = presented_key(request)
    if not given:
        raise ApiError(401, "missing_api_key", headers={"WWW-Authenticate": "Bearer"})
    if not key_is_valid(services, given):
        raise ApiError(401, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return given


class LocalLimiter:
    """Per-process fixed-window counter: takes over when Redis cannot count (limits never off).

    One entry per identity (its window and count) in an OrderedDict used as an LRU: a hit is O(1)
    (pop and re-insert at the end), and past ``max_keys`` identities the least recently seen one
    is dropped, so a flood of new identities cannot grow memory. Dropping resets that identity's
    count, which only an idle identity can suffer. Not the ``limits`` package: its memory storage
    expires keys by time only (no bound on their number) and runs a timer thread per process;
    ``cachetools.TTLCache`` would fit but is a new dependency for ten lines of stdlib.
    """

    def __init__(self, max_keys: int = 50_000):
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._max_keys = max_keys

    def __len__(self) -> int:
        return len(self._counts)

    def hit(self, identity: str, window_index: int) -> int:
        window, count = self._counts.pop(identity, (window_index, 0))
        count = count + 1 if window == window_index else 1
        self._counts[identity] = (window_index, count)
        if len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        return count


FORWARDED = "forwarded"


def _hop_host(hop: str) -> str:
    """The address of one X-Forwarded-For entry, without a port ("[v6]:p", "v4:p")."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:hop.find("]")] if "]" in hop else hop
    return hop.split(":", 1)[0] if hop.count(":") == 1 else hop


def client_identity(peer: str, headers, trusted: frozenset) -> str:
    """The client address the rate limit counts, from the TCP ``peer`` and X-Forwarded-For.

    The header counts only when ``peer`` is a trusted proxy (DASHBOARD_TRUSTED_PROXIES): then the
    right-most address no trusted proxy added. A server that already rewrote the peer from the
    header (uvicorn's own ``--proxy-headers``, on by default for 127.0.0.1) is recognised by the
    peer appearing in the header; with no trusted proxy configured, all such requests share the
    one identity "forwarded", so a made-up header never makes a new client.
    """
    hops = [_hop_host(h) for name, value in headers if name == b"x-forwarded-for"
            for h in value.decode("latin-1").split(",")]
    hops = [h for h in hops if h]
    if not hops:
        return peer
    if peer in trusted:
        return next((h for h in reversed(hops) if h not in trusted), hops[0])
    if peer in hops:
        return peer if trusted else FORWARDED
    return peer


async def rate_limit(request: Request) -> None:
    """DASHBOARD_RATELIMIT_REQUESTS per DASHBOARD_RATELIMIT_WINDOW per key and client on /api/*.

    Takes the request alone (no sub-dependencies): FastAPI's dependency solving cost ~50 us per
    Depends on every request; the key check and the services lookup are plain calls here."""
    services: Services = request.app.state.services
    api_key = checked_key(request, services)
    s = services.settings
    if not s.dashboard_ratelimit_enabled:
        return
    limit, window = int(s.dashboard_ratelimit_requests), int(s.dashboard_ratelimit_window)
    now = time.time()   # wall clock on purpose: windows are shared between workers via Redis
    index = int(now // window)
    client = client_identity(request.client.host if request.client else "-", request.scope["headers"],
                             services.trusted_proxies)
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
    async def gate(request: Request) -> None:
        services: Services = request.app.state.services
        context.current().feature = name
        if not services.manager.feature_available(name):
            raise FeatureUnavailable(name, services.manager.level.name, retry_after_s(services))
    gate.__name__ = f"feature_{name}"
    return gate


def service_failure_response_fields(services: Services, exc: ServiceCallFailed) -> dict:
    """Body of the 503 when a dependency failed in the middle of a request."""
    return {"feature": context.current().feature, "degradation_level": services.manager.level.name,
            "service": exc.service, "reason": "dependency_call_failed"}
