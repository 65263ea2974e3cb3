"""The objects one app instance owns, reachable from requests as ``request.app.state.services``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from .clients.llm import Llm
from .clients.postgres import Database
from .clients.redis_store import RedisStore
from .clients.s3 import ObjectStore
from .metrics import Metrics

if TYPE_CHECKING:
    from .resilience.manager import DegradationManager
    from .settings import Settings
    from .web.security import LocalLimiter


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    breakers: dict
    manager: DegradationManager
    db: Database
    redis: RedisStore
    s3: ObjectStore
    llm: Llm
    local_limiter: LocalLimiter
    started_at: float = 0.0
    open_streams: int = 0      # SSE streams holding a Redis pub/sub connection right now
    cache_dirty: bool = True   # the cache may hold stale lists: bump its version before use
    cache_builds: dict = field(default_factory=dict)   # cache key -> the build of its entry in flight
    background: list = field(default_factory=list)
    trusted_proxies: frozenset = frozenset()   # DASHBOARD_TRUSTED_PROXIES: may set X-Forwarded-For
    configured_health_interval: float = 0.0   # HEALTH_CHECK_INTERVAL as started (admin may change the live one)

    def fallback(self, service: str) -> None:
        """Count one request served by a fallback path because ``service`` was unavailable."""
        self.metrics.fallbacks.labels(service).inc()


async def get_services(request: Request) -> Services:
    """Dependency. ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker
    thread, which cost ~2 ms per request (measured) for a dictionary lookup."""
    return request.app.state.services
