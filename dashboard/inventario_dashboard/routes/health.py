"""Health endpoints, /metrics and the key-protected OpenAPI docs (docs/contract.md §6)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..resilience.breaker import BreakerState
from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import key_is_valid, presented_key, require_api_key

router = APIRouter()
STATUS_BY_LEVEL = {"OPTIMAL": "healthy", "DEGRADED": "degraded", "LIMITED": "degraded",
                   "MINIMAL": "degraded", "EMERGENCY": "critical"}


def _json(data: dict | str) -> bytes:
    # exactly what FastAPI's JSONResponse renders
    return json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def live_answer(services: Services) -> tuple[int, dict]:
    return 200, {"status": "alive"}


def ready_answer(services: Services) -> tuple[int, dict]:
    level = services.manager.level.name
    ok = level != "EMERGENCY"
    return (200 if ok else 503), {"status": "ready" if ok else "not_ready", "degradation_level": level}


def short_answer(services: Services) -> dict:
    level = services.manager.level.name
    return {"status": STATUS_BY_LEVEL.get(level, "degraded"), "degradation_level": level}


def fast_answers(services: Services) -> dict:
    """The answers the outer middleware may give itself (see web.middleware): the health checks
    that need no key. ``/health`` with a key falls through to its route (401 or the full report)."""
    def encoded(answer):
        status, data = answer
        return status, _json(data)
    report = EncodedReport(services)
    return {"/health/live": lambda given: encoded(live_answer(services)),
            "/health/ready": lambda given: encoded(ready_answer(services)),
            "/health": lambda given: _health_answer(services, given, report)}


def _health_answer(services: Services, given: str | None, report: EncodedReport) -> tuple[int, bytes] | None:
    """/health: the short answer without a key, the full report with a valid one; a wrong key
    falls through to the route (its 401). FastAPI's jsonable_encoder walked the full report for
    ~0.3 ms per request; every value in it is already plain JSON."""
    if given is None:
        return 200, _json(short_answer(services))
    if not key_is_valid(services, given):
        return None
    return 200, report.body()


_NOW = "\x00timestamp\x00"   # the timestamp's stand-in while a report is encoded ahead of time
_NOW_ENCODED = _json(_NOW)


class EncodedReport:
    """The full report's bytes, encoded once and reused while nothing in them can change.

    Building and encoding it was over half of the CPU of a keyed /health answer. It can change only
    (a) when the manager evaluates or hears of a failure (its ``version``), (b) when a breaker's
    failure count moves (a success resets it without telling anyone), (c) when a client starts
    dialling elsewhere, and (d) with the clock: the timestamp (filled in per answer) and, below
    OPTIMAL or with a breaker not closed, the recovery prediction and breaker timings. So the
    bytes are reused only with every breaker closed and no prediction, under the key (a, b, c);
    otherwise the report is built fresh, as before."""

    def __init__(self, services: Services):
        self._services = services
        self._key: tuple | None = None
        self._parts: tuple[bytes, bytes] = (b"", b"")

    def body(self) -> bytes:
        services = self._services
        manager = services.manager
        breakers = services.breakers.values()
        # `state` (not `_state`): reading it is what turns an OPEN breaker HALF_OPEN on time
        if manager.recovery_prediction() is not None or any(b.state is not BreakerState.CLOSED for b in breakers):
            return _json({**short_answer(services), **full_report(services)})
        key = (manager.version, tuple(b.failure_count for b in breakers), _endpoints(services))
        if key != self._key:
            head, _, tail = _json({**short_answer(services), **full_report(services, now=_NOW)}).partition(
                _NOW_ENCODED)
            self._key, self._parts = key, (head, tail)
        head, tail = self._parts
        return b"".join((head, _json(_timestamp()), tail))


@router.get("/health/live", include_in_schema=False)
async def live(services: Services = Depends(get_services)) -> dict:
    """The process is alive (no dependency is consulted)."""
    return live_answer(services)[1]


@router.get("/health/ready", include_in_schema=False)
async def ready(services: Services = Depends(get_services)) -> JSONResponse:
    """200 unless the level is EMERGENCY."""
    status, body = ready_answer(services)
    return JSONResponse(body, status_code=status)


@router.get("/health")
async def health(request: Request, services: Services = Depends(get_services)) -> dict:
    """Short answer without a key; 401 with a wrong key; the full report with a valid key."""
    short = short_answer(services)
    given = presented_key(request)
    if given is None:
        return short
    if not key_is_valid(services, given):
        raise ApiError(401, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return {**short, **full_report(services)}


def _endpoints(services: Services) -> tuple[str, str, str | None, str]:
    # what each client actually dials (its own state, not the settings): smoke compares it with
    # the configuration, so a client that ignores its setting cannot pass unseen
    return (services.db.endpoint_in_use, services.redis.endpoint_in_use, services.s3.endpoint_in_use,
            services.llm.endpoint_in_use)


def _timestamp() -> str:
    return datetime.now(timezone.utc).isoformat()


def full_report(services: Services, now: str | None = None) -> dict:
    """Everything §6 lists for an authenticated /health (``now``: its timestamp, default the clock)."""
    s, manager = services.settings, services.manager
    report_services = {}
    endpoints = dict(zip(("database", "redis", "s3", "openai"), _endpoints(services)))
    for name, health in manager.services.items():
        report_services[name] = {
            "status": health.status, "latency_ms": health.latency_ms,
            "weight": s.service_weights.get(name), "last_check": health.last_check,
            "last_error": health.last_error,
            "circuit_breaker": services.breakers[name].snapshot(),
            "endpoint": endpoints[name],
        }
    return {
        "environment": s.environment,
        "version": s.app_version,
        "timestamp": now or _timestamp(),
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
