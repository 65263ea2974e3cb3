"""Inventory reads: GET /api/inventory, /api/inventory/{sku}, /api/inventory/realtime.

Reads are ``read_only_access``: from PostgreSQL (through the Redis cache when ``redis_cache`` is
available: ``X-Cache: HIT/MISS``, otherwise ``BYPASS``), or — database down — from the Redis
snapshot with ``X-Data-Source: cache``.
"""
from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from .. import inventory_repo as repo
from ..clients.guard import ServiceCallFailed
from ..read_cache import answer, cached
from ..services import Services, get_services
from ..web.errors import ApiError, FeatureUnavailable
from ..web.security import feature, retry_after_s

router = APIRouter()
# A new SKU starts with a letter or digit: "." and ".." are dot segments that every HTTP client
# drops from a URL (RFC 3986 5.2.4), so such an item could be created but never read or deleted.
NEW_SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# Addressing stays as wide as the rule once was, so items kept from before remain reachable.
SKU_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
# PostgreSQL's OFFSET is a bigint: past it the query fails (was a 500); far below it is plenty.
MAX_OFFSET = 2**31 - 1


def _database_readable(services: Services) -> bool:
    return services.manager.service_up("database")


async def _snapshot(services: Services) -> tuple[list[dict], float | None]:
    """The read-only fallback; 503 when it is not allowed or Redis cannot serve it either."""
    if not services.settings.db_degraded_read_only:
        raise FeatureUnavailable("read_only_access", services.manager.level.name, retry_after_s(services),
                                 reason="database down and DB_DEGRADED_READ_ONLY=false")
    services.fallback("database")
    return await services.redis.snapshot_all()


@router.get("/api/inventory", dependencies=[Depends(feature("read_only_access"))])
async def list_inventory(category: str | None = Query(None, max_length=64),
                         limit: int | None = Query(None, ge=1, le=1000),
                         offset: int = Query(0, ge=0, le=MAX_OFFSET),
                         services: Services = Depends(get_services)) -> Response:
    """Products ordered by SKU (``limit`` defaults to BATCH_SIZE)."""
    limit = limit or int(services.settings.batch_size)
    if _database_readable(services):
        suffix = hashlib.sha256(f"{category}|{limit}|{offset}".encode()).hexdigest()[:24]
        try:
            async def build() -> dict:
                items = await repo.list_products(services, category, limit, offset)
                return {"items": items, "count": len(items), "limit": limit, "offset": offset,
                        "read_only": False}
            body, cache = await cached(services, "list", suffix, build)
            return answer(body, cache, "database")
        except ServiceCallFailed as exc:
            if exc.service != "database":
                raise
    products, refreshed = await _snapshot(services)
    if category:
        products = [p for p in products if p.get("category") == category]
    items = products[offset:offset + limit]
    return answer({"items": items, "count": len(items), "limit": limit, "offset": offset,
                    "read_only": True, "snapshot_refreshed_at": refreshed}, "BYPASS", "cache")


@router.get("/api/inventory/realtime", dependencies=[Depends(feature("real_time_inventory"))])
async def realtime_inventory(events: int = Query(20, ge=0, le=100),
                             services: Services = Depends(get_services)) -> dict:
    """Current quantities straight from the database (never cached) and the latest events."""
    rows = await services.db.fetch_all(
        "SELECT sku, quantity, updated_at FROM products ORDER BY sku LIMIT %s",
        [int(services.settings.batch_size)])
    recent = await services.redis.recent_events(events) if events else []
    return {"items": [repo.to_json(r) for r in rows], "recent_events": recent}


@router.get("/api/inventory/{sku}", dependencies=[Depends(feature("read_only_access"))])
async def get_inventory_item(sku: str = Path(pattern=SKU_PATTERN),
                             services: Services = Depends(get_services)) -> Response:
    """One product; 404 ``unknown_sku``."""
    if _database_readable(services):
        try:
            async def build() -> dict:
                item = await repo.get_product(services, sku)
                if item is None:   # raised before caching: a miss is never cached
                    raise ApiError(404, "unknown_sku", sku=sku)
                return {"item": item, "read_only": False}
            body, cache = await cached(services, "item", sku, build)
            return answer(body, cache, "database")
        except ServiceCallFailed as exc:
            if exc.service != "database":
                raise
    products, refreshed = await _snapshot(services)
    item = next((p for p in products if p["sku"] == sku), None)
    if item is None:
        raise ApiError(404, "unknown_sku", sku=sku, read_only=True)
    return answer({"item": item, "read_only": True, "snapshot_refreshed_at": refreshed}, "BYPASS", "cache")
