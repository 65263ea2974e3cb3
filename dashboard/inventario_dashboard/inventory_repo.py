"""Inventory data access: SQL for products and stock movements, and the Redis side effects of a
write (cache invalidation, snapshot, event) kept in one place."""
from __future__ import annotations

import logging
import time
from decimal import Decimal

from .clients.guard import ServiceCallFailed
from .services import Services

log = logging.getLogger("inventario_dashboard.inventory")
COLUMNS = "sku, name, category, price, quantity, created_at, updated_at"
SNAPSHOT_MAX_ROWS = 10_000


def to_json(row: dict) -> dict:
    """A product row as JSON-safe values (numeric → float, timestamps → ISO)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            value = float(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[key] = value
    return out


async def list_products(services: Services, category: str | None, limit: int, offset: int) -> list[dict]:
    where, params = ("WHERE category = %s", [category]) if category else ("", [])
    rows = await services.db.fetch_all(
        f"SELECT {COLUMNS} FROM products {where} ORDER BY sku LIMIT %s OFFSET %s",
        [*params, limit, offset])
    return [to_json(r) for r in rows]


async def get_product(services: Services, sku: str) -> dict | None:
    row = await services.db.fetch_one(f"SELECT {COLUMNS} FROM products WHERE sku = %s", [sku])
    return to_json(row) if row else None


async def after_write(services: Services, event: dict, product: dict | None, deleted_sku: str | None = None) -> dict:
    """Propagate a committed write to Redis. The write itself already succeeded; what could not be
    propagated is reported in the answer (never hidden) and repaired later (cache_dirty)."""
    done = {"cache_invalidated": False, "snapshot_updated": False, "event_published": False}
    if not services.manager.service_up("redis"):
        services.cache_dirty = True
        services.fallback("redis")
        return done
    try:
        await services.redis.invalidate_cache()
        done["cache_invalidated"] = True
        if deleted_sku:
            await services.redis.snapshot_delete(deleted_sku)
        elif product:
            await services.redis.snapshot_put(product)
        done["snapshot_updated"] = True
        await services.redis.publish({**event, "at": time.time()})
        done["event_published"] = True
    except ServiceCallFailed:
        services.cache_dirty = True
        services.fallback("redis")
    return done


async def refresh_snapshot(services: Services) -> int:
    """Copy every product into the Redis snapshot that serves reads while the database is down."""
    rows = await services.db.fetch_all(f"SELECT {COLUMNS} FROM products ORDER BY sku LIMIT %s",
                                       [SNAPSHOT_MAX_ROWS])
    products = [to_json(r) for r in rows]
    await services.redis.snapshot_replace(products)
    return len(products)
