"""All four dependencies up: /health is OPTIMAL with score 100, every breaker closed, all 16
features on, and every feature's endpoint does its real work."""
from __future__ import annotations

import io
import json
import time

import httpx
import pytest
from PIL import Image

from inventario_dashboard.resilience.features import FEATURES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def dash(dashboard):
    return dashboard


@pytest.fixture(scope="module")
def api(dash):
    with dash.client() as client:
        yield client


def wait_level(api: httpx.Client, level: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    report = {}
    while time.monotonic() < deadline:
        report = api.get("/health").json()
        if report.get("degradation_level") == level:
            return report
        time.sleep(0.2)
    raise AssertionError(f"level {level} not reached in {timeout}s; last report: {json.dumps(report)[:2000]}")


def test_health_optimal_score_100_breakers_closed_all_features(api):
    report = wait_level(api, "OPTIMAL")
    assert report["health_score"] == 100
    assert report["status"] == "healthy"
    assert set(report["services"]) == {"database", "openai", "redis", "s3"}
    for name, svc in report["services"].items():
        assert svc["status"] == "up", (name, svc)
        assert svc["circuit_breaker"]["state"] == "closed"
        assert svc["latency_ms"] is not None and svc["last_check"]
        assert set(svc) == {"status", "latency_ms", "weight", "last_check", "last_error", "circuit_breaker", "endpoint"}
        assert set(svc["circuit_breaker"]) == {"state", "failure_count", "failure_threshold",
                                               "recovery_timeout_s", "half_open_max_calls"}
    assert report["features"] == {name: True for name in FEATURES}
    assert len(report["features"]) == 16
    assert set(report) == {"status", "environment", "version", "timestamp", "health_score",
                           "degradation_level", "services", "features", "recovery_prediction",
                           "transitions"}
    assert report["environment"] == "staging"
    assert {s: v["weight"] for s, v in report["services"].items()} == \
        {"database": 50, "openai": 30, "redis": 15, "s3": 5}


def test_inventory_crud_and_cache(api):
    sku = f"SKU-{time.monotonic_ns()}"
    created = api.post("/api/inventory", json={"sku": sku, "name": "Widget", "category": "tools",
                                               "price": 2.5, "quantity": 7})
    assert created.status_code == 201, created.text
    assert created.json()["item"]["quantity"] == 7
    assert created.json()["propagation"] == {"cache_invalidated": True, "snapshot_updated": True,
                                             "event_published": True}
    assert api.post("/api/inventory", json={"sku": sku, "name": "Dup"}).status_code == 409

    first = api.get(f"/api/inventory/{sku}")
    second = api.get(f"/api/inventory/{sku}")
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.headers["X-Data-Source"] == "database"
    assert second.json()["item"]["name"] == "Widget"

    patched = api.patch(f"/api/inventory/{sku}", json={"quantity_delta": -3, "reason": "sale", "price": 3})
    assert patched.status_code == 200, patched.text
    assert patched.json()["item"]["quantity"] == 4 and patched.json()["item"]["price"] == 3.0
    # The write invalidated the cache: the next read is a MISS with the new quantity.
    after = api.get(f"/api/inventory/{sku}")
    assert after.headers["X-Cache"] == "MISS" and after.json()["item"]["quantity"] == 4
    too_many = api.patch(f"/api/inventory/{sku}", json={"quantity_delta": -100})
    assert too_many.status_code == 409 and too_many.json()["error"] == "insufficient_stock"

    listing = api.get("/api/inventory", params={"category": "tools"})
    assert listing.status_code == 200
    assert sku in [i["sku"] for i in listing.json()["items"]]

    assert api.delete(f"/api/inventory/{sku}").status_code == 204
    gone = api.get(f"/api/inventory/{sku}")
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_sku"
    assert api.delete(f"/api/inventory/{sku}").status_code == 404


def test_analytics_summary_is_cached_and_every_write_shows_at_once(api):
    """The summary is served from the cache (HIT) until a write through the API, whose effect the
    next answer shows (MISS with the new totals); each threshold has its own entry."""
    first = api.get("/api/analytics/summary", params={"low_stock_below": 7})
    again = api.get("/api/analytics/summary", params={"low_stock_below": 7})
    assert (first.status_code, again.status_code) == (200, 200), first.text
    assert again.headers["X-Cache"] == "HIT" and again.json() == first.json()
    assert again.headers["content-type"] == "application/json"
    sku = f"SUM-{time.monotonic_ns()}"
    created = api.post("/api/inventory", json={"sku": sku, "name": "Summed", "price": 2.5, "quantity": 4})
    assert created.status_code == 201 and created.json()["propagation"]["cache_invalidated"] is True
    after = api.get("/api/analytics/summary", params={"low_stock_below": 7})
    assert after.headers["X-Cache"] == "MISS", after.headers
    assert after.json()["products"] == first.json()["products"] + 1
    assert after.json()["units"] == first.json()["units"] + 4
    assert after.json()["low_stock"] == first.json()["low_stock"] + 1
    assert after.json()["stock_value"] == pytest.approx(first.json()["stock_value"] + 10.0)
    other = api.get("/api/analytics/summary", params={"low_stock_below": 3})
    assert other.headers["X-Cache"] == "MISS" and other.json()["low_stock_below"] == 3
    assert api.patch(f"/api/inventory/{sku}", json={"quantity_delta": -4}).status_code == 200
    sold = api.get("/api/analytics/summary", params={"low_stock_below": 7})
    assert sold.headers["X-Cache"] == "MISS" and sold.json()["units"] == first.json()["units"]
    assert api.delete(f"/api/inventory/{sku}").status_code == 204
    gone = api.get("/api/analytics/summary", params={"low_stock_below": 7})
    assert gone.json()["products"] == first.json()["products"]


def test_realtime_inventory_and_events(api, dash):
    sku = f"RT-{time.monotonic_ns()}"
    with httpx.Client(base_url=dash.url, headers={"X-API-Key": dash.api_key}, timeout=10) as sse:
        with sse.stream("GET", "/api/events", params={"max_events": 1, "timeout": 5}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith("event: ready")
            assert api.post("/api/inventory", json={"sku": sku, "name": "Live", "quantity": 1}).status_code == 201
            body = "\n".join(lines)
    assert "event: inventory" in body and sku in body and "event: end" in body
    realtime = api.get("/api/inventory/realtime")
    assert realtime.status_code == 200
    assert any(e.get("sku") == sku for e in realtime.json()["recent_events"])
    assert any(i["sku"] == sku for i in realtime.json()["items"])


def test_sessions(api):
    created = api.post("/api/sessions", json={"user": "ana", "data": {"cart": [1, 2]}, "ttl_s": 60})
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]
    got = api.get(f"/api/sessions/{sid}")
    assert got.status_code == 200 and got.json()["data"] == {"cart": [1, 2]} and 0 < got.json()["ttl_s"] <= 60
    assert api.delete(f"/api/sessions/{sid}").status_code == 204
    assert api.get(f"/api/sessions/{sid}").status_code == 404


def test_files_images_backups(api):
    payload = b"hello s3 " * 10
    up = api.post("/api/files", params={"filename": "notes.txt"}, content=payload,
                  headers={"Content-Type": "text/plain"})
    assert up.status_code == 201, up.text
    down = api.get(f"/api/files/{up.json()['key']}")
    assert down.status_code == 200 and down.content == payload
    assert api.get("/api/files/uploads/does-not-exist").status_code == 404

    buf = io.BytesIO()
    Image.new("RGB", (800, 400), (200, 30, 30)).save(buf, format="JPEG")
    img = api.post("/api/images", content=buf.getvalue(), headers={"Content-Type": "image/jpeg"})
    assert img.status_code == 201, img.text
    assert img.json()["original_size"] == [800, 400] and img.json()["thumbnail_size"] == [256, 128]
    thumb = api.get(f"/api/files/{img.json()['key']}")
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 128)
    bad = api.post("/api/images", content=b"not an image")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_image"

    sku = f"BK-{time.monotonic_ns()}"
    api.post("/api/inventory", json={"sku": sku, "name": "Backed up", "quantity": 3})
    backup = api.post("/api/backups")
    assert backup.status_code == 201, backup.text
    dump = json.loads(api.get(f"/api/files/{backup.json()['key']}").content)
    assert dump["count"] == backup.json()["count"] >= 1
    assert any(p["sku"] == sku for p in dump["products"])


def test_ai_recommendations_and_pipeline(api):
    low, ok = f"LOW-{time.monotonic_ns()}", f"OK-{time.monotonic_ns()}"
    api.post("/api/inventory", json={"sku": low, "name": "Scarce", "quantity": 2})
    api.post("/api/inventory", json={"sku": ok, "name": "Plenty", "quantity": 500})
    recs = api.get("/api/recommendations", params={"target_stock": 10})
    assert recs.status_code == 200, recs.text
    by_sku = {r["sku"]: r for r in recs.json()["recommendations"]}
    assert by_sku[low]["quantity"] == 8 and ok not in by_sku

    text = f"Invoice 42\n3 x {low} scarce thing @ 1.50\n5 x UNKNOWN-1 mystery\n"
    pipe = api.post("/api/ai/pipeline", json={"text": text, "apply": True})
    assert pipe.status_code == 200, pipe.text
    items = {i["sku"]: i for i in pipe.json()["items"]}
    assert items[low]["quantity"] == 3 and items[low]["known"] is True and items[low]["unit_price"] == 1.5
    assert items["UNKNOWN-1"]["known"] is False
    assert pipe.json()["applied"] == [{"sku": low, "quantity": 5}]


def test_analytics(api):
    sku = f"AN-{time.monotonic_ns()}"
    api.post("/api/inventory", json={"sku": sku, "name": "Counted", "category": "analytics",
                                     "price": 10, "quantity": 4})
    api.patch(f"/api/inventory/{sku}", json={"quantity_delta": -2, "reason": "sale"})
    summary = api.get("/api/analytics/summary")
    assert summary.status_code == 200 and summary.json()["products"] >= 1
    adv = api.get("/api/analytics/advanced", params={"days": 7})
    assert adv.status_code == 200, adv.text
    cats = {c["category"]: c for c in adv.json()["categories"]}
    assert cats["analytics"]["units"] == 2 and cats["analytics"]["stock_value"] == 20.0
    risk = {r["sku"]: r for r in adv.json()["stockout_risk"]}
    assert risk[sku]["daily_outflow"] == round(2 / 7, 3)
