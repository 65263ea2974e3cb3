"""What `stagectl status` (and `--watch`, `ps`) shows: every service's row plus the dashboard's own
view — degradation level, health score and circuit-breaker states from its full /health report
(with the API key). The dashboard part is None when it does not answer; that is shown, not hidden."""

from __future__ import annotations

import dataclasses
import time

from stagectl.backends.base import Backend, ServiceStatus
from stagectl.config.loader import Project


@dataclasses.dataclass(frozen=True)
class DashboardView:
    level: str
    score: float | None
    breakers: dict[str, str]  # dependency → closed / open / half_open


@dataclasses.dataclass(frozen=True)
class Snapshot:
    services: list[ServiceStatus]
    dashboard: DashboardView | None
    dashboard_error: str = ""
    taken_at: float = dataclasses.field(default_factory=time.time)


def dashboard_view(project: Project, timeout: float = 2.0) -> tuple[DashboardView | None, str]:
    """The dashboard's level, score and breakers, or (None, why)."""
    import httpx

    svc = project.stack.services.get("dashboard")
    if svc is None or not svc.enabled:
        return None, "no dashboard service in this stack"
    try:
        response = httpx.get(f"http://127.0.0.1:{svc.port}/health", timeout=timeout,
                             headers={"X-API-Key": project.env.get("DASHBOARD_API_KEY", "")})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"dashboard unreachable ({type(exc).__name__})"
    if not isinstance(body, dict) or "services" not in body:
        return None, f"dashboard gave no full report (HTTP {response.status_code})"
    breakers = {name: str((info or {}).get("circuit_breaker", {}).get("state", "")).lower()
                for name, info in (body.get("services") or {}).items()
                if isinstance(info, dict) and info.get("circuit_breaker")}
    return DashboardView(str(body.get("degradation_level", "")), body.get("health_score"), breakers), ""


def snapshot(project: Project, backend: Backend) -> Snapshot:
    rows = backend.status()
    dashboard, why = dashboard_view(project)
    return Snapshot(rows, dashboard, why)


def uptime_s(row: ServiceStatus, now: float | None = None) -> float | None:
    if row.started_at is None:
        return None
    return max(0.0, (time.time() if now is None else now) - row.started_at)


def as_json(snap: Snapshot) -> dict:
    """The `status --json` document (without the version fields `emit_json` adds)."""
    now = snap.taken_at
    services = [{"name": r.name, "state": r.state, "healthy": r.healthy, "pid": r.pid, "port": r.port,
                 "ready_s": r.ready_s, "restarts": r.restarts,
                 "uptime_s": None if (u := uptime_s(r, now)) is None else round(u, 1), "detail": r.detail}
                for r in snap.services]
    dashboard = None if snap.dashboard is None else dataclasses.asdict(snap.dashboard)
    return {"services": services, "dashboard": dashboard, "dashboard_error": snap.dashboard_error}
