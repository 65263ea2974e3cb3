"""LLM features: GET /api/recommendations (``ai_recommendations``) and POST /api/ai/pipeline
(``full_ai_pipeline``: invoice text → items, matched against the inventory)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from .. import inventory_repo as repo
from ..clients.llm import LlmBadOutput
from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import feature
from .inventory_write import MAX_QUANTITY

router = APIRouter()
RESTOCK_INSTRUCTIONS = ("Given products with their stock, answer a JSON object "
                        '{"recommendations": [{"sku", "action", "quantity", "reason"}]} for '
                        "products below target_stock.")
INVOICE_INSTRUCTIONS = ("Extract the invoice lines from the text. Answer a JSON object "
                        '{"items": [{"sku", "quantity", "description", "unit_price"}]}.')


async def _ask(services: Services, task: str, instructions: str, payload: dict, list_key: str) -> list:
    """The model's list under ``list_key``; 502 ``llm_bad_output`` for an answer of another shape."""
    try:
        answer = await services.llm.complete_json(task, instructions, payload)
    except LlmBadOutput as exc:
        raise ApiError(502, "llm_bad_output", detail=str(exc)) from None
    found = answer.get(list_key, [])
    if not isinstance(found, list):
        raise ApiError(502, "llm_bad_output", detail=f"model output: {list_key!r} is not a list")
    return found


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@router.get("/api/recommendations", dependencies=[Depends(feature("ai_recommendations"))])
async def recommendations(target_stock: int = Query(20, ge=1, le=1_000_000),
                          services: Services = Depends(get_services)) -> dict:
    """Restock advice for the products below ``target_stock`` (lowest stock first)."""
    rows = await services.db.fetch_all(
        "SELECT sku, name, category, quantity FROM products WHERE quantity < %s "
        "ORDER BY quantity, sku LIMIT %s", [target_stock, int(services.settings.batch_size)])
    if not rows:
        return {"recommendations": [], "considered": 0, "model": None}
    answer = await _ask(services, "restock_recommendations", RESTOCK_INSTRUCTIONS,
                        {"target_stock": target_stock, "products": rows}, "recommendations")
    known = {r["sku"] for r in rows}
    recs = [r for r in answer if isinstance(r, dict) and isinstance(r.get("sku"), str) and r["sku"] in known]
    return {"recommendations": recs, "considered": len(rows), "model": services.llm.model}


class InvoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str = Field(min_length=1, max_length=20_000)
    apply: bool = False   # true: add the matched quantities to stock (one movement per line)


@router.post("/api/ai/pipeline", dependencies=[Depends(feature("full_ai_pipeline"))])
async def ai_pipeline(body: InvoiceIn, services: Services = Depends(get_services)) -> dict:
    answer = await _ask(services, "invoice_extraction", INVOICE_INSTRUCTIONS, {"text": body.text}, "items")
    items = [i for i in answer if isinstance(i, dict)
             and isinstance(i.get("sku"), str) and _is_int(i.get("quantity"))]
    skus = sorted({i["sku"] for i in items})
    known = {r["sku"] for r in await services.db.fetch_all(
        "SELECT sku FROM products WHERE sku = ANY(%s)", [skus])} if skus else set()
    for item in items:
        item["known"] = item["sku"] in known
    applied = []
    if body.apply:
        to_apply = [i for i in items if i["known"] and i["quantity"] > 0]
        too_big = [i["sku"] for i in to_apply if i["quantity"] > MAX_QUANTITY]
        if too_big:   # the stock column is an INTEGER: beyond it the UPDATE failed (was a 500)
            raise ApiError(422, "quantity_out_of_range", skus=too_big[:20], max_quantity=MAX_QUANTITY)
        applied = await _apply(services, to_apply)
    return {"items": items, "matched": sum(i["known"] for i in items), "applied": applied}


async def _apply(services: Services, items: list[dict]) -> list[dict]:
    async def work(conn):
        out = []
        for item in items:
            cur = await conn.execute(
                "UPDATE products SET quantity = quantity + %s, updated_at = now() WHERE sku = %s "
                f"RETURNING {repo.COLUMNS}", [item["quantity"], item["sku"]])
            row = await cur.fetchone()
            await conn.execute("INSERT INTO stock_movements (sku, delta, reason) VALUES (%s, %s, %s)",
                               [item["sku"], item["quantity"], "invoice (ai pipeline)"])
            out.append(repo.to_json(row))
        return out
    updated = await services.db.transact(work)
    for product in updated:
        await repo.after_write(services, {"type": "updated", "sku": product["sku"],
                                          "quantity": product["quantity"]}, product)
    return [{"sku": p["sku"], "quantity": p["quantity"]} for p in updated]
