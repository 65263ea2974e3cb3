"""Chaos: stop each real dependency in turn and watch the dashboard degrade and recover.

For each service: the level and score of docs/contract.md §4, exactly the expected features off (and
503 ``feature_unavailable`` + Retry-After on their endpoints), the breaker OPEN after its
threshold, metrics moved, the fallbacks honest — then the process comes back and the dashboard
returns to OPTIMAL within recovery_timeout + (half-open trials + recovery checks + 1) intervals.
"""
from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inventario_dashboard.resilience.features import FEATURES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

INTERVAL = 0.5
RECOVERY_TIMEOUT = 2.0
OPTIMAL_ONLY = {"s3_uploads", "image_processing", "backup_operations"}
# service stopped → (level, score, features expected OFF) — from docs/contract.md §4/§5 tables.
SCENARIOS = {
    "s3": ("DEGRADED", 95, OPTIMAL_ONLY | {"file_storage"}),
    "redis": ("DEGRADED", 85, OPTIMAL_ONLY | {"real_time_updates", "redis_cache", "session_storage",
                                              "rate_limiting", "real_time_inventory"}),
    "openai": ("DEGRADED", 70, OPTIMAL_ONLY | {"ai_recommendations", "full_ai_pipeline"}),
    "database": ("MINIMAL", 50, set(FEATURES) - {"read_only_access", "minimal_access"}),
}
THRESHOLDS = {"database": 3, "openai": 5, "redis": 5, "s3": 4}
HALF_OPEN = {"database": 1, "openai": 2, "redis": 2, "s3": 2}
# feature → a request that exercises it
ENDPOINTS = {
    "inventory_management": ("POST", "/api/inventory", {"json": {"sku": "CHAOS-NEW", "name": "n"}}),
    "ai_recommendations": ("GET", "/api/recommendations", {}),
    "real_time_updates": ("GET", "/api/events", {"params": {"timeout": 1, "max_events": 1}}),
    "session_storage": ("POST", "/api/sessions", {"json": {"user": "u"}}),
    "s3_uploads": ("POST", "/api/files", {"content": b"data"}),
    "file_storage": ("GET", "/api/files/uploads/anything", {}),
    "image_processing": ("POST", "/api/images", {"content": b"img"}),
    "backup_operations": ("POST", "/api/backups", {}),
    "full_ai_pipeline": ("POST", "/api/ai/pipeline", {"json": {"text": "1 x A"}}),
    "advanced_analytics": ("GET", "/api/analytics/advanced", {}),
    "real_time_inventory": ("GET", "/api/inventory/realtime", {}),
    "basic_analytics": ("GET", "/api/analytics/summary", {}),
}


@pytest.fixture(scope="module")
def dash(dashboard, deps):
    # The shared dashboard runs with these values (conftest); the bounds below are computed from them.
    assert float(deps.env["HEALTH_CHECK_INTERVAL"]) == INTERVAL
    assert all(float(deps.env[f"{p}_CB_RECOVERY_TIMEOUT"]) == RECOVERY_TIMEOUT for p in ("DB", "REDIS", "S3", "OPENAI"))
    return dashboard


@pytest.fixture(scope="module")
def api(dash):
    with dash.client() as client:
        yield client


def health(api: httpx.Client) -> dict:
    return api.get("/health").json()


def wait_for(api: httpx.Client, predicate, timeout: float, what: str) -> tuple[dict, float]:
    started = time.monotonic()
    report = {}
    while time.monotonic() - started < timeout:
        report = health(api)
        if predicate(report):
            return report, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s; last: level={report.get('degradation_level')} "
                         f"score={report.get('health_score')} services="
                         f"{ {k: (v['status'], v['circuit_breaker']['state']) for k, v in report.get('services', {}).items()} }")


def metric(api: httpx.Client, name: str, **labels) -> float:
    text = api.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"series {name}{labels} not exposed")


def call(api: httpx.Client, feature: str) -> httpx.Response:
    method, path, kwargs = ENDPOINTS[feature]
    return api.request(method, path, **kwargs)


@pytest.mark.parametrize("service", ["s3", "redis", "openai", "database"])
def test_stop_dependency_degrades_then_recovers(api, deps, service):
    level, score, off = SCENARIOS[service]
    wait_for(api, lambda r: r["degradation_level"] == "OPTIMAL", 20, "OPTIMAL before the fault")
    sku = f"CHAOS-{service}-{time.monotonic_ns()}"
    assert api.post("/api/inventory", json={"sku": sku, "name": "snap", "quantity": 9}).status_code == 201
    failures_before = metric(api, "circuit_breaker_failures_total", service=service)
    opened_before = metric(api, "circuit_breaker_transitions_total", service=service,
                           from_state="closed", to_state="open")
    proc = deps.proc(service)
    proc.stop()
    try:
        report, detect_s = wait_for(api, lambda r: r["degradation_level"] == level, 10, f"{level} with {service} down")
        assert detect_s <= INTERVAL + 1.0 + 2.0, detect_s   # one probe round + probe timeout + slack
        report, _ = wait_for(api, lambda r: r["services"][service]["circuit_breaker"]["state"] == "open"
                             or metric(api, "circuit_breaker_transitions_total", service=service,
                                       from_state="closed", to_state="open") > opened_before,
                             THRESHOLDS[service] * (INTERVAL + 1.0) + 3, f"{service} breaker open")
        report = health(api)
        assert report["degradation_level"] == level and report["health_score"] == score
        assert report["services"][service]["status"] == "down"
        assert report["status"] == "degraded"
        expected = {name: name not in off for name in FEATURES}
        assert report["features"] == expected
        assert report["recovery_prediction"] is not None
        assert report["transitions"][-1]["to"] == level

        for feature in sorted(off & set(ENDPOINTS)):
            response = call(api, feature)
            assert response.status_code == 503, (feature, response.status_code, response.text)
            body = response.json()
            assert body["error"] == "feature_unavailable" and body["feature"] == feature
            assert body["degradation_level"] == level
            assert int(response.headers["Retry-After"]) >= 1
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        for feature in sorted(set(ENDPOINTS) - off - {"inventory_management"}):
            response = call(api, feature)
            assert response.status_code < 500, (feature, response.status_code, response.text)

        # The fallbacks of this outage are real and say what they are.
        listing = api.get("/api/inventory")
        assert listing.status_code == 200, listing.text
        if service == "database":
            assert listing.headers["X-Data-Source"] == "cache" and listing.json()["read_only"] is True
            assert sku in [i["sku"] for i in listing.json()["items"]]
            one = api.get(f"/api/inventory/{sku}")
            assert one.status_code == 200 and one.headers["X-Data-Source"] == "cache"
            assert metric(api, "dashboard_fallback_total", service="database") >= 1
        else:
            assert listing.headers["X-Data-Source"] == "database"
        if service == "redis":
            assert listing.headers["X-Cache"] == "BYPASS"
            assert listing.headers["X-RateLimit-Limit"] == "100000"   # per-process limiter took over
            # the summary needs only the database: built there, not refused for want of its cache
            summary = api.get("/api/analytics/summary")
            assert summary.status_code == 200 and summary.headers["X-Cache"] == "BYPASS", summary.text
            assert summary.json()["products"] >= 1
            assert metric(api, "dashboard_fallback_total", service="redis") >= 1

        assert metric(api, "circuit_breaker_failures_total", service=service) >= failures_before + THRESHOLDS[service]
        assert metric(api, "dashboard_service_up", service=service) == 0
        assert metric(api, "dashboard_degradation_level") == {"DEGRADED": 2, "MINIMAL": 4}[level]
        assert metric(api, "dashboard_health_score") == score
        assert metric(api, "dashboard_feature_available", feature=sorted(off)[0]) == 0
    finally:
        proc.start()
    bound = RECOVERY_TIMEOUT + (HALF_OPEN[service] + 2 + 1) * INTERVAL + 2.0
    report, recover_s = wait_for(api, lambda r: r["degradation_level"] == "OPTIMAL", bound + 10,
                                 f"OPTIMAL after {service} returned")
    assert recover_s <= bound, f"recovery took {recover_s:.1f}s (bound {bound:.1f}s)"
    assert report["health_score"] == 100
    assert all(s["circuit_breaker"]["state"] == "closed" for s in report["services"].values())
    assert metric(api, "circuit_breaker_state", service=service) == 0
    assert metric(api, "dashboard_degradation_level") == 1
    print(f"{service}: detected in {detect_s:.2f}s, recovered in {recover_s:.2f}s (bound {bound:.1f}s)")


def test_llm_hang_is_bounded_and_degrades(api, deps):
    """A model that never answers: requests end within the client timeout, never hang."""
    wait_for(api, lambda r: r["degradation_level"] == "OPTIMAL", 20, "OPTIMAL before the fault")
    admin = httpx.Client(base_url=deps.llm_url, headers={"Authorization": f"Bearer {deps.env['OPENAI_API_KEY']}"},
                         timeout=5)
    api.post("/api/inventory", json={"sku": f"HANG-{time.monotonic_ns()}", "name": "low", "quantity": 0})
    try:
        assert admin.post("/_admin/mode", json={"mode": "hang"}).status_code == 200
        started = time.monotonic()
        response = api.get("/api/recommendations", timeout=30)
        elapsed = time.monotonic() - started
        # OPENAI_TIMEOUT=2 × HTTP_RETRY_ATTEMPTS=2, plus slack; the answer is an honest 503.
        assert response.status_code == 503 and response.json()["error"] == "feature_unavailable", response.text
        assert elapsed < 2 * 2 + 2, elapsed
        # The probe itself times out (HEALTH_CHECK_TIMEOUT) instead of waiting on the model.
        wait_for(api, lambda r: r["services"]["openai"]["status"] == "down"
                 and "timed out" in (r["services"]["openai"]["last_error"] or ""), 10, "openai probe timing out")
        wait_for(api, lambda r: r["degradation_level"] == "DEGRADED", 10, "DEGRADED while the model hangs")
    finally:
        admin.post("/_admin/mode", json={"mode": "normal"})
        admin.close()
    wait_for(api, lambda r: r["degradation_level"] == "OPTIMAL", 20, "OPTIMAL after the model answers again")


def test_database_and_redis_down_is_emergency(api, deps):
    """Score 35: EMERGENCY — not ready, and not even read-only access is left."""
    wait_for(api, lambda r: r["degradation_level"] == "OPTIMAL", 20, "OPTIMAL before the fault")
    deps.postgres.stop()
    deps.redis.stop()
    try:
        report, _ = wait_for(api, lambda r: r["degradation_level"] == "EMERGENCY", 10, "EMERGENCY")
        assert report["health_score"] == 35 and report["status"] == "critical"
        assert report["features"] == {name: name == "minimal_access" for name in FEATURES}
        ready = api.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["degradation_level"] == "EMERGENCY"
        assert api.get("/health/live").status_code == 200
        listing = api.get("/api/inventory")
        assert listing.status_code == 503 and listing.json()["feature"] == "read_only_access"
        assert metric(api, "dashboard_degradation_level") == 5
    finally:
        deps.postgres.start()
        deps.redis.start()
    wait_for(api, lambda r: r["degradation_level"] == "OPTIMAL", 20, "OPTIMAL after both returned")
    assert api.get("/health/ready").status_code == 200


def test_dashboard_started_before_its_database_exists(dashboard_factory, deps):
    """Started while its database is missing: live at once, MINIMAL, and the schema is created
    as soon as the database appears (no restart needed)."""
    import psycopg
    dbname = f"late_{time.monotonic_ns()}"
    dash = dashboard_factory(POSTGRES_DB=dbname, HEALTH_CHECK_INTERVAL=str(INTERVAL),
                             DB_CB_RECOVERY_TIMEOUT=str(RECOVERY_TIMEOUT))
    with dash.client() as late:
        report, _ = wait_for(late, lambda r: r["services"]["database"]["status"] == "down", 10, "database down")
        assert report["degradation_level"] == "MINIMAL" and late.get("/health/ready").status_code == 200
        info = dict(host="127.0.0.1", port=int(deps.env["POSTGRES_PORT"]), user=deps.env["POSTGRES_USER"],
                    password=deps.env["POSTGRES_PASSWORD"])
        with psycopg.connect(**info, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        wait_for(late, lambda r: r["degradation_level"] == "OPTIMAL", 20, "OPTIMAL once the database exists")
        created = late.post("/api/inventory", json={"sku": "LATE-1", "name": "late", "quantity": 1})
        assert created.status_code == 201, created.text
    with psycopg.connect(**info, dbname=dbname) as conn:
        tables = {r[0] for r in conn.execute("select tablename from pg_tables where schemaname='public'")}
    assert {"products", "stock_movements"} <= tables
