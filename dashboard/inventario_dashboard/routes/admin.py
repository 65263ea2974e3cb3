"""Run-time administration, key required: the health evaluation interval (docs/contract.md §6).

stagectl's chaos run needs ~1 s evaluations to watch degradations within minutes; a stack brought
up with the configured (slower) interval is switched to a fast one for the run and back after it.
The change lives in memory only: a restart goes back to HEALTH_CHECK_INTERVAL.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ..services import Services, get_services
from ..web.security import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.2, 3600.0


class IntervalChange(BaseModel):
    seconds: float = Field(ge=MIN_INTERVAL_S, le=MAX_INTERVAL_S)


@router.get("/admin/health-interval", include_in_schema=False)
async def get_interval(services: Services = Depends(get_services)) -> dict:
    """The interval in force, and the configured one."""
    return {"seconds": float(services.settings.health_check_interval),
            "configured_seconds": services.configured_health_interval}


@router.put("/admin/health-interval", include_in_schema=False)
async def put_interval(change: IntervalChange, services: Services = Depends(get_services)) -> dict:
    """Set the interval now (the current pause ends); answers the previous value."""
    previous = services.manager.set_interval(change.seconds)
    return {"seconds": change.seconds, "previous_seconds": previous,
            "configured_seconds": services.configured_health_interval}
