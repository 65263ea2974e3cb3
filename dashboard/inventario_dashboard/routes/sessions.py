"""Sessions in Redis (``session_storage``): POST /api/sessions, GET/DELETE /api/sessions/{id}."""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import feature

router = APIRouter(dependencies=[Depends(feature("session_storage"))])
SESSION_ID = r"^[A-Za-z0-9_-]{16,64}$"


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    user: str = Field(min_length=1, max_length=128)
    data: dict = Field(default_factory=dict)
    ttl_s: int = Field(1800, ge=1, le=86_400)


@router.post("/api/sessions", status_code=201)
async def create_session(body: SessionIn, services: Services = Depends(get_services)) -> dict:
    if len(repr(body.data)) > 16_384:
        raise ApiError(422, "session_data_too_large", max_chars=16_384)
    session_id = secrets.token_urlsafe(24)
    await services.redis.session_put(session_id, {"user": body.user, "data": body.data}, body.ttl_s)
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
