"""Reads served through the Redis cache (``redis_cache``): ``X-Cache: HIT/MISS/BYPASS``.

Entries live under the cache version that every committed write bumps (clients/redis_store.py),
so no answer built before a write is served after it; the TTL bounds what a write made behind the
API's back (straight into the database) can leave stale.
"""
from __future__ import annotations

import asyncio
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
    # One build per missing entry: the requests that miss while it runs wait for it instead of
    # each running the same query (at 10 clients a cold entry was 10 builds at once). In a task of
    # its own, shielded, so one waiter giving up does not cancel it for the others.
    flight = services.cache_builds.get(key)
    if flight is None:
        flight = services.cache_builds[key] = asyncio.ensure_future(_build_and_store(services, key, build, ttl_s))
        flight.add_done_callback(lambda done: _landed(services, key, done))
    return await asyncio.shield(flight)


async def _build_and_store(services: Services, key: str, build: Callable[[], Awaitable[dict]],
                           ttl_s: int | None) -> tuple[dict | str, str]:
    body = await build()
    try:
        await services.redis.cache_set(key, json.dumps(body), ttl_s)
    except ServiceCallFailed:
        services.fallback("redis")
        return body, "BYPASS"
    return body, "MISS"


def _landed(services: Services, key: str, done: asyncio.Future) -> None:
    services.cache_builds.pop(key, None)
    if not done.cancelled():
        done.exception()   # retrieved here too: when every waiter went away, asyncio would log it
