"""Sessions in Redis (``session_storage``): POST /api/sessions, GET/DELETE /api/sessions/{id}."""
from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import feature

router = APIRouter(dependencies=[Depends(feature("session_storage"))])
SESSION_ID = r"^[A-Za-z0-9_-]{16,64}$"
MAX_SESSION_CHARS = 16_384
# Near the interpreter's recursion limit json.dumps raised RecursionError at a depth that depends
# on the stack it runs in (~958 levels inside the Redis call); a fixed, far lower bound instead.
MAX_SESSION_DEPTH = 32


def _depth(value) -> int:
    """Nesting depth of JSON-like data, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    user: str = Field(min_length=1, max_length=128)
    data: dict = Field(default_factory=dict)
    ttl_s: int = Field(1800, ge=1, le=86_400)


@router.post("/api/sessions", status_code=201)
async def create_session(body: SessionIn, services: Services = Depends(get_services)) -> dict:
    if _depth(body.data) > MAX_SESSION_DEPTH:
        raise ApiError(422, "invalid_input", service="redis", detail=f"session data nested deeper than "
                       f"{MAX_SESSION_DEPTH} levels")
    try:
        # Serialised here, not inside the Redis call: data too deep to encode (RecursionError) is
        # the client's input, and inside the breaker it was counted as a Redis failure.
        stored = json.dumps({"user": body.user, "data": body.data})
    except (RecursionError, ValueError, TypeError):
        raise ApiError(422, "invalid_input", service="redis", detail="session data cannot be stored") from None
    if len(stored) > MAX_SESSION_CHARS:
        raise ApiError(422, "session_data_too_large", max_chars=MAX_SESSION_CHARS)
    session_id = secrets.token_urlsafe(24)
    await services.redis.session_put(session_id, stored, body.ttl_s)
    return {"session_id": session_id, "ttl_s": body.ttl_s}


@router.get("/api/sessions/{session_id}")
async def get_session(session_id: str = Path(pattern=SESSION_ID),
                      services: Services = Depends(get_services)) -> dict:
    data, ttl = await services.redis.session_get(session_id)
    if data is None:
        raise ApiError(404, "unknown_session")
    return {"session_id": session_id, "ttl_s": ttl, **data}


@router.delete("/api/sessions/{session_id}", status_code=204)
async def delete_session(session_id: str = Path(pattern=SESSION_ID),
                         services: Services = Depends(get_services)) -> Response:
    if not await services.redis.session_delete(session_id):
        raise ApiError(404, "unknown_session")
    return Response(status_code=204)
