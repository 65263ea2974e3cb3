"""Health endpoints, /metrics and the key-protected OpenAPI docs (docs/contract.md §6)."""
from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import key_is_valid, presented_key, require_api_key

router = APIRouter()
STATUS_BY_LEVEL = {"OPTIMAL": "healthy", "DEGRADED": "degraded", "LIMITED": "degraded",
                   "MINIMAL": "degraded", "EMERGENCY": "critical"}


@router.get("/health/live", include_in_schema=False)
async def live() -> dict:
    """The process is alive (no dependency is consulted)."""
    return {"status": "alive"}


@router.get("/health/ready", include_in_schema=False)
async def ready(services: Services = Depends(get_services)) -> JSONResponse:
    """200 unless the level is EMERGENCY."""
    level = services.manager.level.name
    ok = level != "EMERGENCY"
    return JSONResponse({"status": "ready" if ok else "not_ready", "degradation_level": level},
                        status_code=200 if ok else 503)


@router.get("/health")
async def health(request: Request, services: Services = Depends(get_services)) -> dict:
    """Short answer without a key; 401 with a wrong key; the full report with a valid key."""
    manager = services.manager
    level = manager.level.name
    short = {"status": STATUS_BY_LEVEL.get(level, "degraded"), "degradation_level": level}
    given = presented_key(request)
    if given is None:
        return short
    if not key_is_valid(services, given):
        raise ApiError(401, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return {**short, **full_report(services)}


def full_report(services: Services) -> dict:
    """Everything §6 lists for an authenticated /health."""
    s, manager = services.settings, services.manager
    report_services = {}
    for name, health in manager.services.items():
        report_services[name] = {
            "status": health.status, "latency_ms": health.latency_ms,
            "weight": s.service_weights.get(name), "last_check": health.last_check,
            "last_error": health.last_error,
            "circuit_breaker": services.breakers[name].snapshot(),
        }
    return {
        "environment": s.environment,
        "version": s.app_version,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "health_score": manager.score,
        "services": report_services,
        "features": manager.features(),
        "recovery_prediction": manager.recovery_prediction(),
        "transitions": manager.transitions(10),
    }


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_api_key)])
async def metrics(services: Services = Depends(get_services)) -> Response:
    """Prometheus exposition of this app's own registry."""
    if not services.settings.metrics_enabled:
        raise ApiError(404, "metrics_disabled")
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_api_key)])
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", include_in_schema=False, dependencies=[Depends(require_api_key)])
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="inventario-retail Dashboard API")
