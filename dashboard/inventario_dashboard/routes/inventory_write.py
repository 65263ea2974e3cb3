"""Inventory writes (``inventory_management``): POST, PATCH and DELETE /api/inventory…"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import inventory_repo as repo
from ..clients.postgres import DomainError
from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import feature
from .inventory import NEW_SKU_PATTERN, SKU_PATTERN

router = APIRouter(dependencies=[Depends(feature("inventory_management"))])
MAX_QUANTITY = _MAX_QTY = 1_000_000_000   # a product's stock, well inside INTEGER
_MAX_PRICE = 1_000_000_000


class ProductIn(BaseModel):
    """A new product. Strict types: ``"5"`` is not a quantity."""
    model_config = ConfigDict(extra="forbid", strict=True)
    sku: str = Field(pattern=NEW_SKU_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    category: str = Field("general", min_length=1, max_length=64)
    price: float = Field(0, ge=0, le=_MAX_PRICE)
    quantity: int = Field(0, ge=0, le=_MAX_QTY)


class ProductPatch(BaseModel):
    """Changed fields; ``quantity_delta`` records a stock movement (with ``reason``)."""
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(None, min_length=1, max_length=64)
    price: float | None = Field(None, ge=0, le=_MAX_PRICE)
    quantity_delta: int | None = Field(None, ge=-_MAX_QTY, le=_MAX_QTY)
    reason: str = Field("", max_length=200)


def _domain_error(exc: DomainError, sku: str) -> ApiError:
    if exc.code == "conflict":
        return ApiError(409, "sku_exists", sku=sku)
    return ApiError(409, "constraint_violation", sku=sku, detail=exc.detail)


@router.post("/api/inventory", status_code=201)
async def create_item(product: ProductIn, services: Services = Depends(get_services)) -> JSONResponse:
    async def work(conn):
        cur = await conn.execute(
            f"INSERT INTO products (sku, name, category, price, quantity) VALUES (%s, %s, %s, %s, %s) "
            f"RETURNING {repo.COLUMNS}",
            [product.sku, product.name, product.category, product.price, product.quantity])
        row = await cur.fetchone()
        if product.quantity:
            await conn.execute("INSERT INTO stock_movements (sku, delta, reason) VALUES (%s, %s, %s)",
                               [product.sku, product.quantity, "initial stock"])
        return row
    try:
        row = await services.db.transact(work)
    except DomainError as exc:
        raise _domain_error(exc, product.sku) from None
    item = repo.to_json(row)
    propagated = await repo.after_write(services, {"type": "created", "sku": item["sku"],
                                                   "quantity": item["quantity"]}, item)
    return JSONResponse({"item": item, "propagation": propagated}, status_code=201)


@router.patch("/api/inventory/{sku}")
async def update_item(change: ProductPatch, sku: str = Path(pattern=SKU_PATTERN),
                      services: Services = Depends(get_services)) -> dict:
    fields = {k: v for k, v in change.model_dump(exclude_unset=True).items()
              if k in ("name", "category", "price") and v is not None}
    delta = change.quantity_delta or 0

    async def work(conn):
        sets = [f"{name} = %s" for name in fields] + ["quantity = quantity + %s", "updated_at = now()"]
        cur = await conn.execute(
            f"UPDATE products SET {', '.join(sets)} WHERE sku = %s RETURNING {repo.COLUMNS}",
            [*fields.values(), delta, sku])
        row = await cur.fetchone()
        if row is not None and delta:
            await conn.execute("INSERT INTO stock_movements (sku, delta, reason) VALUES (%s, %s, %s)",
                               [sku, delta, change.reason])
        return row
    try:
        row = await services.db.transact(work)
    except DomainError as exc:
        if exc.code == "constraint_violation" and delta < 0:
            raise ApiError(409, "insufficient_stock", sku=sku, quantity_delta=delta) from None
        raise _domain_error(exc, sku) from None
    if row is None:
        raise ApiError(404, "unknown_sku", sku=sku)
    item = repo.to_json(row)
    propagated = await repo.after_write(services, {"type": "updated", "sku": sku, "delta": delta,
                                                   "quantity": item["quantity"]}, item)
    return {"item": item, "propagation": propagated}


@router.delete("/api/inventory/{sku}", status_code=204)
async def delete_item(sku: str = Path(pattern=SKU_PATTERN),
                      services: Services = Depends(get_services)) -> Response:
    async def work(conn):
        cur = await conn.execute("DELETE FROM products WHERE sku = %s RETURNING sku", [sku])
        return await cur.fetchone()
    if await services.db.transact(work) is None:
        raise ApiError(404, "unknown_sku", sku=sku)
    await repo.after_write(services, {"type": "deleted", "sku": sku}, None, deleted_sku=sku)
    return Response(status_code=204)
