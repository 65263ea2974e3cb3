"""Analytics: GET /api/analytics/summary (``basic_analytics``) and /api/analytics/advanced
(``advanced_analytics``)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from .. import inventory_repo as repo
from ..read_cache import answer, cached
from ..services import Services, get_services
from ..web.security import feature

router = APIRouter()
# The summary is cached like the inventory reads (every write through the API bumps the cache
# version, so it is never older than the last such write), for at most this long: the aggregate
# reads the whole products table, and a write made straight into the database shows within it.
SUMMARY_CACHE_TTL_S = 10


@router.get("/api/analytics/summary", dependencies=[Depends(feature("basic_analytics"))])
async def summary(low_stock_below: int = Query(10, ge=0, le=1_000_000),
                  services: Services = Depends(get_services)) -> Response:
    """Totals over all products (``X-Cache`` as the inventory reads; Redis down: from the database)."""
    async def build() -> dict:
        row = await services.db.fetch_one(
            "SELECT count(*) AS products, coalesce(sum(quantity), 0) AS units, "
            "coalesce(sum(quantity * price), 0) AS stock_value, "
            "count(*) FILTER (WHERE quantity < %s) AS low_stock FROM products", [low_stock_below])
        assert row is not None  # an aggregate without GROUP BY always returns one row
        return {**repo.to_json(row), "low_stock_below": low_stock_below}
    body, cache = await cached(services, "summary", str(low_stock_below), build, ttl_s=SUMMARY_CACHE_TTL_S,
                               needs_cache=False)
    return answer(body, cache)


@router.get("/api/analytics/advanced", dependencies=[Depends(feature("advanced_analytics"))])
async def advanced(days: int = Query(7, ge=1, le=365), services: Services = Depends(get_services)) -> dict:
    """Per-category totals, top movers and days-of-cover estimates over the last ``days``."""
    limit = int(services.settings.batch_size)

    async def work(conn):
        categories = await (await conn.execute(
            "SELECT category, count(*) AS products, sum(quantity) AS units, "
            "sum(quantity * price) AS stock_value FROM products GROUP BY category ORDER BY category")).fetchall()
        movers = await (await conn.execute(
            "SELECT sku, sum(delta) AS net, sum(abs(delta)) AS moved, count(*) AS movements "
            "FROM stock_movements WHERE created_at > now() - make_interval(days => %s::int) "
            "GROUP BY sku ORDER BY moved DESC, sku LIMIT %s", [days, limit])).fetchall()
        cover = await (await conn.execute(
            "SELECT p.sku, p.quantity, coalesce(-sum(m.delta) FILTER (WHERE m.delta < 0), 0) AS outflow "
            "FROM products p LEFT JOIN stock_movements m ON m.sku = p.sku "
            "AND m.created_at > now() - make_interval(days => %s::int) "
            "GROUP BY p.sku, p.quantity ORDER BY p.sku LIMIT %s", [days, limit])).fetchall()
        return categories, movers, cover
    categories, movers, cover = await services.db.read(work)
    risk = []
    for row in cover:
        daily = float(row["outflow"]) / days
        days_left = round(row["quantity"] / daily, 1) if daily > 0 else None
        risk.append({"sku": row["sku"], "quantity": row["quantity"], "daily_outflow": round(daily, 3),
                     "days_of_cover": days_left})
    return {"days": days, "categories": [repo.to_json(r) for r in categories],
            "top_movers": [repo.to_json(r) for r in movers],
            "stockout_risk": sorted(risk, key=lambda r: (r["days_of_cover"] is None, r["days_of_cover"] or 0))}
