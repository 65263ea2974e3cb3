"""The HTTP side of chaos: watch the dashboard's /health (recorded as a level timeline), measure its
live probe interval, and check that feature availability is *enforced* on the endpoints.

Rate limiting: the dashboard limits /api/* per API key and peer address (`request.client.host` in
dashboard/inventario_dashboard/web/security.py; proxy headers only from trusted proxies, none by
default — docs/contract.md §6). Chaos sends ~15 /api requests per scenario, so each scenario binds
its own random loopback source address (stagectl/loopback.py) — every scenario gets a fresh window. A 429 is reported
as a problem, never read as "available".
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from stagectl.loopback import fresh_loopback, is_loopback_url, source_headers


@dataclasses.dataclass(frozen=True)
class Probe:
    """A request that passes the feature gate with no lasting effect, when the feature is available."""

    method: str
    path: str
    params: dict | None = None
    json: dict | None = None
    content: bytes | None = None
    stream: bool = False


# Available → 2xx/404/422 (gate passed); unavailable → 503 feature_unavailable + Retry-After.
PROBES: dict[str, Probe] = {
    "inventory_management": Probe("DELETE", "/api/inventory/stagectl-chaos-missing"),
    "ai_recommendations": Probe("GET", "/api/recommendations", params={"target_stock": 1}),
    "real_time_updates": Probe("GET", "/api/events", params={"max_events": 1, "timeout": 0.5}, stream=True),
    "session_storage": Probe("GET", "/api/sessions/stagectl-chaos-missing-session"),
    "s3_uploads": Probe("POST", "/api/files", content=b""),  # empty body: 422 after the gate
    "file_storage": Probe("GET", "/api/files/uploads/stagectl-chaos-missing"),
    "image_processing": Probe("POST", "/api/images", content=b""),  # not an image: 422 after the gate
    "backup_operations": Probe("POST", "/api/backups"),  # the one real write: a backup object in S3
    "full_ai_pipeline": Probe("POST", "/api/ai/pipeline", json={"text": "1 x STAGECTL-CHAOS-PROBE"}),
    "advanced_analytics": Probe("GET", "/api/analytics/advanced", params={"days": 1}),
    "real_time_inventory": Probe("GET", "/api/inventory/realtime", params={"events": 0}),
    "basic_analytics": Probe("GET", "/api/analytics/summary"),
    "read_only_access": Probe("GET", "/api/inventory", params={"limit": 1}),
    "minimal_access": Probe("GET", "/health/live"),
}


ADMIN_INTERVAL = "/admin/health-interval"  # the dashboard's run-time health interval (key required)


class Dashboard:
    """The dashboard under test, seen over HTTP with the API key."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.base_url, self._key, self._timeout, self._clock = base_url, api_key, timeout, clock
        self.t0 = clock()
        self.timeline: list[dict] = []
        self.scenario = ""
        self.last_status: int | None = None
        self.client = self._new_client()

    def _new_client(self) -> httpx.Client:
        local = fresh_loopback() if is_loopback_url(self.base_url) else None  # a remote stack: the default route
        transport = httpx.HTTPTransport(local_address=local)
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": self._key, **source_headers(local)}, timeout=self._timeout,
                            transport=transport)

    def new_identity(self) -> None:
        """A fresh source address, i.e. a fresh rate-limit window."""
        self.client.close()
        self.client = self._new_client()

    def close(self) -> None:
        self.client.close()

    def health_interval(self) -> float | None:
        """The evaluation interval in force (`GET /admin/health-interval`), None when the dashboard
        has no such endpoint or refused."""
        try:
            response = self.client.get(ADMIN_INTERVAL)
            return float(response.json()["seconds"]) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def set_health_interval(self, seconds: float) -> float:
        """Set the live evaluation interval; returns the previous one. Raises on refusal: a chaos
        run that cannot make the dashboard fast, or cannot put it back, must say so."""
        response = self.client.put(ADMIN_INTERVAL, json={"seconds": seconds})
        if response.status_code != 200:
            raise RuntimeError(f"PUT {ADMIN_INTERVAL} answered {response.status_code}: {response.text[:200]}")
        return float(response.json()["previous_seconds"])

    def health(self) -> dict | None:
        """The full /health report (None when unreachable or not JSON); recorded in the timeline."""
        try:
            response = self.client.get("/health")
            self.last_status = response.status_code
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            self.last_status, body = None, None
        if body is not None and "services" not in body:
            body = None  # the short answer: the key was not accepted
        level = body.get("degradation_level") if body else "UNREACHABLE"
        score = body.get("health_score") if body else None
        last = self.timeline[-1] if self.timeline else None
        if last is None or (last["level"], last["score"], last["scenario"]) != (level, score, self.scenario):
            self.timeline.append({"t": round(self._clock() - self.t0, 3), "level": level, "score": score,
                                  "scenario": self.scenario})
        return body

    def measure_interval(self, window_s: float, sleep: Callable[[float], None] = time.sleep) -> float | None:
        """Seconds between two health evaluations (from `last_check`), or None if none completed
        within `window_s` (the interval is longer than the window)."""
        deadline = self._clock() + window_s
        seen: list[datetime] = []
        while self._clock() < deadline:
            body = self.health()
            stamp = ((body or {}).get("services") or {}).get("database", {}).get("last_check")
            if stamp:
                moment = datetime.fromisoformat(stamp)
                if not seen or moment != seen[-1]:
                    seen.append(moment)
                if len(seen) >= 3:  # the first value may be stale: measure between two later ones
                    return (seen[-1] - seen[-2]).total_seconds()
            sleep(0.1)
        return None

    def _send(self, probe: Probe) -> tuple[int, dict, httpx.Headers]:
        kwargs: dict[str, Any] = {"params": probe.params, "json": probe.json, "content": probe.content}
        if probe.stream:
            with self.client.stream(probe.method, probe.path, **kwargs) as response:
                body = _json_or_empty(response.read()) if response.status_code != 200 else {}
                return response.status_code, body, response.headers
        response = self.client.request(probe.method, probe.path, **kwargs)
        return response.status_code, _json_or_empty(response.content), response.headers

    def check_enforcement(self, expected: dict[str, bool]) -> list[str]:
        """Problems found when probing every feature's endpoint against the expected availability."""
        probes = {name: PROBES[name] for name in expected if name in PROBES}
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = {name: pool.submit(self._send, probe) for name, probe in probes.items()}
        problems: list[str] = []
        answers = {}
        for name, future in futures.items():
            try:
                answers[name] = future.result()
            except httpx.HTTPError as exc:
                problems.append(f"{name}: request failed: {type(exc).__name__}")
                continue
            problems += judge(name, expected[name], *answers[name])
        problems += _judge_cache(expected, answers.get("read_only_access"))
        for name, (status, _body, headers) in answers.items():
            if PROBES[name].path.startswith("/api/") and status != 401 and "x-ratelimit-limit" not in headers:
                problems.append(f"rate_limiting: {name} answered without X-RateLimit-Limit (limits must never be off)")
        return problems


def _json_or_empty(raw: bytes) -> dict:
    try:
        value = httpx.Response(200, content=raw).json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def judge(feature: str, available: bool, status: int, body: dict, headers: httpx.Headers) -> list[str]:
    """Problems with one endpoint answer, given whether its feature should be available."""
    gated = status == 503 and body.get("error") == "feature_unavailable"
    if status == 429:
        return [f"{feature}: rate limited (429), no verdict possible"]
    if not available:
        problems = [] if gated else [f"{feature}: expected 503 feature_unavailable, got {status} {body.get('error', '')}".rstrip()]
        if gated and body.get("feature") != feature:
            problems.append(f"{feature}: 503 names feature {body.get('feature')!r}")
        retry = headers.get("retry-after", "")
        if gated and not (retry.isdigit() and int(retry) >= 1):
            problems.append(f"{feature}: 503 without a valid Retry-After (got {retry!r})")
        return problems
    if gated or status >= 500:
        return [f"{feature}: expected available, got {status} {body.get('error', '')}".rstrip()]
    return []


def _judge_cache(expected: dict[str, bool], answer) -> list[str]:
    """redis_cache shows as X-Cache on database-served inventory reads: HIT/MISS, or BYPASS."""
    if "redis_cache" not in expected or answer is None or answer[0] != 200:
        return []
    headers = answer[2]
    if headers.get("x-data-source") != "database":
        return []
    cache = headers.get("x-cache", "")
    wanted = ("HIT", "MISS") if expected["redis_cache"] else ("BYPASS",)
    return [] if cache in wanted else [f"redis_cache: X-Cache {cache!r}, expected {'/'.join(wanted)}"]
