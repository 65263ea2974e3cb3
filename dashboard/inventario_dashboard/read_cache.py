"""Reads served through the Redis cache (``redis_cache``): ``X-Cache: HIT/MISS/BYPASS``.

Entries live under the cache version that every committed write bumps (clients/redis_store.py),
so no answer built before a write is served after it; the TTL bounds what a write made behind the
API's back (straight into the database) can leave stale.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi.responses import JSONResponse, Response

from .clients.guard import ServiceCallFailed
from .services import Services
from .web.errors import FeatureUnavailable
from .web.security import retry_after_s


def answer(body: dict | str, cache: str, source: str = "database", status: int = 200) -> Response:
    """The response of a cached read, with its ``X-Cache`` and ``X-Data-Source``."""
    headers = {"X-Cache": cache, "X-Data-Source": source}
    if isinstance(body, str):   # a cache hit is served as stored: no decode/encode round trip
        return Response(body, status_code=status, media_type="application/json", headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


async def cached(services: Services, kind: str, suffix: str, build: Callable[[], Awaitable[dict]], *,
                 ttl_s: int | None = None, needs_cache: bool = True) -> tuple[dict | str, str]:
    """(body, X-Cache): through the cache when allowed, else built straight from the database.

    ``needs_cache``: a read whose feature needs Redis for its cache (the inventory reads) answers
    503 ``redis_cache`` when Redis is down and REDIS_CB_BYPASS_CACHE=false; a read whose feature
    needs only the database (the analytics summary) is then built from the database (BYPASS)."""
    s = services.settings
    if not services.manager.feature_available("redis_cache"):
        if needs_cache and s.feature_cache_enabled and not services.manager.service_up("redis"):
            if not s.redis_cb_bypass_cache:
                raise FeatureUnavailable("redis_cache", services.manager.level.name, retry_after_s(services))
            services.fallback("redis")
        return await build(), "BYPASS"
    try:
        if services.cache_dirty:
            await services.redis.invalidate_cache()
            services.cache_dirty = False
        key, hit = await services.redis.cache_lookup(kind, suffix)
    except ServiceCallFailed:
        services.fallback("redis")
        return await build(), "BYPASS"
    if hit is not None:
        return hit, "HIT"
    body = await build()
    try:
        await services.redis.cache_set(key, json.dumps(body), ttl_s)
    except ServiceCallFailed:
        services.fallback("redis")
        return body, "BYPASS"
    return body, "MISS"
