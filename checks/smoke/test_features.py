"""Degradation levels and features (docs/contract.md §4, §5): reported *and* enforced.

Every feature has its own test that calls the endpoint serving it and expects it to work (not
503); the live test below takes the LLM away and expects the OPTIMAL-only features to be refused.
"""

from __future__ import annotations

import time

import boto3
import pytest
import redis
from botocore.config import Config

from ._support import png_bytes, wait_for_level

ALL_FEATURES = ("inventory_management", "ai_recommendations", "real_time_updates", "redis_cache",
                "session_storage", "rate_limiting", "s3_uploads", "file_storage", "image_processing",
                "backup_operations", "full_ai_pipeline", "advanced_analytics", "real_time_inventory",
                "basic_analytics", "read_only_access", "minimal_access")
OPTIMAL_ONLY = ("s3_uploads", "image_processing", "backup_operations")


def _ok(response, status: int = 200) -> None:
    assert response.status_code != 503, f"feature refused: {response.text[:300]}"
    assert response.status_code == status, f"{response.status_code}: {response.text[:300]}"


@pytest.fixture
def low_stock_sku(api, unique):
    """A product below any target stock, so the LLM features have something to work on."""
    sku = f"SMOKE-{unique}"
    created = api.post("/api/inventory", json={"sku": sku, "name": "smoke low stock", "quantity": 1, "price": 2.5})
    assert created.status_code == 201, created.text
    yield sku
    api.delete(f"/api/inventory/{sku}")


def _s3(cfg):
    return boto3.client("s3", endpoint_url=cfg.require("S3_ENDPOINT_URL"), region_name=cfg.require("AWS_DEFAULT_REGION"),
                        aws_access_key_id=cfg.require("AWS_ACCESS_KEY_ID"),
                        aws_secret_access_key=cfg.require("AWS_SECRET_ACCESS_KEY"),
                        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=10))


def check_inventory_management(cfg, api, unique, **_):
    sku = f"SMOKE-IM-{unique}"
    _ok(api.post("/api/inventory", json={"sku": sku, "name": "smoke", "quantity": 0}), 201)
    _ok(api.delete(f"/api/inventory/{sku}"), 204)


def check_ai_recommendations(cfg, api, low_stock_sku, **_):
    response = api.get("/api/recommendations", params={"target_stock": 1000})
    _ok(response)
    body = response.json()
    assert body["model"] == cfg.require("OPENAI_MODEL"), body
    assert low_stock_sku in {r["sku"] for r in body["recommendations"]}, body


def check_real_time_updates(cfg, api, **_):
    response = api.get("/api/events", params={"max_events": 1, "timeout": 0.5})
    _ok(response)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("event: ready"), response.text[:200]


def check_redis_cache(cfg, api, **_):
    response = api.get("/api/inventory", params={"limit": 3})
    _ok(response)
    assert response.headers.get("X-Cache") in ("HIT", "MISS"), f"X-Cache={response.headers.get('X-Cache')}"


def check_session_storage(cfg, api, unique, **_):
    created = api.post("/api/sessions", json={"user": f"smoke-{unique}", "data": {"n": 1}, "ttl_s": 60})
    _ok(created, 201)
    read = api.get(f"/api/sessions/{created.json()['session_id']}")
    _ok(read)
    assert read.json()["user"] == f"smoke-{unique}"


def check_rate_limiting(cfg, api, main_source, **_):
    """The shared (Redis) limiter counts this client: a counter key for our address holds the count."""
    response = api.get("/api/inventory", params={"limit": 1})
    _ok(response)
    used = int(response.headers["X-RateLimit-Limit"]) - int(response.headers["X-RateLimit-Remaining"])
    client = redis.Redis(host=cfg.require("REDIS_HOST"), port=cfg.int("REDIS_PORT"), db=cfg.int("REDIS_DB"),
                         password=cfg.require("REDIS_PASSWORD"), socket_timeout=5, decode_responses=True)
    try:
        keys = [k for k in client.scan_iter(match=f"*:{main_source}:*", count=1000)]
        counts = [int(client.get(k) or 0) for k in keys]
    finally:
        client.close()
    assert used in counts, f"no shared counter for {main_source} holds {used}: {dict(zip(keys, counts))}"


def check_s3_uploads(cfg, api, unique, **_):
    response = api.post("/api/files", params={"filename": f"smoke-{unique}.txt"}, content=b"smoke upload",
                        headers={"Content-Type": "text/plain"})
    _ok(response, 201)
    assert response.json()["stored"] is True


def check_file_storage(cfg, api, unique, **_):
    key = f"uploads/smoke-direct-{unique}.txt"
    _s3(cfg).put_object(Bucket=cfg.require("S3_BUCKET_NAME"), Key=key, Body=b"put by the smoke suite")
    response = api.get(f"/api/files/{key}")
    _ok(response)
    assert response.content == b"put by the smoke suite"


def check_image_processing(cfg, api, **_):
    response = api.post("/api/images", content=png_bytes(), headers={"Content-Type": "image/png"})
    _ok(response, 201)
    assert max(response.json()["thumbnail_size"]) <= 256


def check_backup_operations(cfg, api, **_):
    response = api.post("/api/backups")
    _ok(response, 201)
    assert response.json()["key"].startswith("backups/")


def check_full_ai_pipeline(cfg, api, low_stock_sku, **_):
    response = api.post("/api/ai/pipeline", json={"text": f"3 x {low_stock_sku} smoke bolts @ 1.25"})
    _ok(response)
    items = response.json()["items"]
    assert [(i["sku"], i["quantity"], i["known"]) for i in items] == [(low_stock_sku, 3, True)], items


def check_advanced_analytics(cfg, api, **_):
    response = api.get("/api/analytics/advanced", params={"days": 7})
    _ok(response)
    assert "categories" in response.json()


def check_real_time_inventory(cfg, api, **_):
    response = api.get("/api/inventory/realtime", params={"events": 5})
    _ok(response)
    assert "items" in response.json() and "recent_events" in response.json()


def check_basic_analytics(cfg, api, low_stock_sku, **_):
    response = api.get("/api/analytics/summary")
    _ok(response)
    assert response.json()["products"] >= 1


def check_read_only_access(cfg, api, **_):
    response = api.get("/api/inventory", params={"limit": 1})
    _ok(response)
    assert response.headers.get("X-Data-Source") == "database"


def check_minimal_access(cfg, api, **_):
    _ok(api.get("/health"))
    _ok(api.get("/metrics"))


CHECKS = {name: globals()[f"check_{name}"] for name in ALL_FEATURES}
# Features whose check also looks behind the API (the limiter's counter, an object put directly).
LOCAL_ACCESS = {"rate_limiting": "a direct connection to Redis", "file_storage": "a direct connection to the S3 endpoint"}
FEATURE_PARAMS = [pytest.param(name, marks=pytest.mark.local_access(LOCAL_ACCESS[name])) if name in LOCAL_ACCESS else name
                  for name in ALL_FEATURES]
NEEDS_PRODUCT = {"ai_recommendations", "full_ai_pipeline", "basic_analytics"}


class TestDegradationLevels:
    def test_all_features_reported_at_optimal(self, optimal):
        """Fault: a feature reported unavailable (or missing) although every service is up."""
        assert optimal["features"] == {name: True for name in ALL_FEATURES}

    def test_level_metric_matches_report(self, api, optimal):
        """Fault: the level gauge disagrees with /health (OPTIMAL is 1)."""
        from ._support import sample, scrape

        samples = scrape(api)
        assert sample(samples, "dashboard_degradation_level") == 1.0
        assert sample(samples, "dashboard_health_score") == pytest.approx(optimal["health_score"])


class TestFeatureAvailability:
    @pytest.mark.parametrize("feature", FEATURE_PARAMS)
    def test_enforced_available(self, request, cfg, api, main_source, unique, optimal, feature):
        """Fault: the endpoint serving the feature refuses (503) or fails on a healthy stack."""
        extra = {"low_stock_sku": request.getfixturevalue("low_stock_sku")} if feature in NEEDS_PRODUCT else {}
        CHECKS[feature](cfg=cfg, api=api, unique=unique, main_source=main_source, **extra)


def _set_llm_mode(cfg, mode: str) -> None:
    import httpx

    response = httpx.post(f"{cfg.llm_base()}/_admin/mode", json={"mode": mode}, timeout=10,
                          headers={"Authorization": f"Bearer {cfg.require('OPENAI_API_KEY')}"})
    assert response.status_code == 200 and response.json()["mode"] == mode, response.text


@pytest.fixture(scope="class")
def llm_down(cfg):
    """The LLM stand-in answers 500 to everything; always restored (and OPTIMAL awaited) after."""
    from ._support import make_client

    _set_llm_mode(cfg, "error")
    try:
        with make_client(cfg) as client:
            interval = cfg.float("HEALTH_CHECK_INTERVAL") + cfg.float("HEALTH_CHECK_TIMEOUT")
            yield wait_for_level(client, "DEGRADED", 3 * interval + 5)
    finally:
        _set_llm_mode(cfg, "normal")


@pytest.mark.local_access("a service-level fault (the LLM stand-in's admin endpoint)")
class TestLiveDegradation:
    def test_llm_failure_degrades(self, llm_down):
        """Fault: a failing LLM is not noticed, or the level is not DEGRADED (score 70 with defaults)."""
        assert llm_down["services"]["openai"]["status"] == "down"
        features = llm_down["features"]
        refused = {"ai_recommendations", "full_ai_pipeline", *OPTIMAL_ONLY}
        assert {n for n, ok in features.items() if not ok} == refused, features

    @pytest.mark.parametrize("feature,method,path", [
        ("s3_uploads", "POST", "/api/files"), ("image_processing", "POST", "/api/images"),
        ("backup_operations", "POST", "/api/backups")])
    def test_optimal_only_features_refused(self, cfg, api, llm_down, feature, method, path):
        """Fault: an OPTIMAL-only feature still served (or refused without the contract's 503 shape)."""
        response = api.request(method, path, content=b"x")
        assert response.status_code == 503, f"{response.status_code}: {response.text[:200]}"
        body = response.json()
        assert body["error"] == "feature_unavailable" and body["feature"] == feature
        assert body["degradation_level"] == "DEGRADED"
        assert int(response.headers["Retry-After"]) >= 1

    def test_security_headers_on_503(self, cfg, api, llm_down):
        """Fault: a refusal (503) goes out without the security headers or a request id."""
        response = api.post("/api/backups")
        assert response.status_code == 503, response.text[:200]
        for header in ("Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
                       "X-Frame-Options", "Referrer-Policy"):
            assert response.headers.get(header) == cfg.security_headers().get(header), header
        assert response.headers.get(cfg.require("REQUEST_ID_HEADER"))

    def test_recovers_to_optimal(self, cfg, api, llm_down):
        """Fault: the level never climbs back once the LLM answers again."""
        _set_llm_mode(cfg, "normal")
        started = time.monotonic()
        report = wait_for_level(api, "OPTIMAL", cfg.recovery_bound_s())
        assert report["services"]["openai"]["status"] == "up"
        assert report["transitions"][-1]["to"] == "OPTIMAL", report["transitions"]
        assert time.monotonic() - started <= cfg.recovery_bound_s()
