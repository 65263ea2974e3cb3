"""The HTTP surface of docs/contract.md §6 against a real dashboard process: auth, security headers on
every response, request ids, bad input → 4xx JSON, metrics (every series, bounded cardinality),
JSON logs without secrets, rate limiting."""
from __future__ import annotations

import json
import random
import string
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SERIES = {  # docs/contract.md §6 metric → the labels each sample must carry
    "dashboard_requests_total": {"method", "route", "status"},
    "dashboard_errors_total": {"route", "error_type"},
    "dashboard_request_duration_seconds_bucket": {"method", "route", "le"},
    "dashboard_health_score": set(),
    "dashboard_degradation_level": set(),
    "dashboard_service_up": {"service"},
    "dashboard_feature_available": {"feature"},
    "circuit_breaker_state": {"service"},
    "circuit_breaker_failures_total": {"service"},
    "circuit_breaker_transitions_total": {"service", "from_state", "to_state"},
    "dashboard_fallback_total": {"service"},
    "dashboard_rate_limited_total": set(),
}
SECURITY = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Strict-Transport-Security": "max-age=63072000; includeSubDomains"}


MAX_BODY = 65536   # DASHBOARD_MAX_BODY_BYTES of the shared dashboard fixture


@pytest.fixture(scope="module")
def dash(dashboard):
    return dashboard


def wait_optimal(api: httpx.Client, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while api.get("/health").json()["degradation_level"] != "OPTIMAL":
        assert time.monotonic() < deadline, "dashboard not OPTIMAL"
        time.sleep(0.2)


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (response.status_code, name, dict(response.headers))
    assert response.headers.get("X-Request-ID")


def test_auth_cases(dash):
    with dash.client(key=None) as anon:
        missing = anon.get("/api/inventory")
        assert missing.status_code == 401 and missing.json()["error"] == "missing_api_key"
        assert_security_headers(missing)
        wrong = anon.get("/api/inventory", headers={"X-API-Key": "wrong-key-123"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_api_key"
        assert_security_headers(wrong)
        bearer = anon.get("/api/analytics/summary", headers={"Authorization": f"Bearer {dash.api_key}"})
        assert bearer.status_code == 200, bearer.text
        assert anon.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert anon.get("/metrics").json()["error"] == "missing_api_key"
        # /health: short without a key, 401 with a wrong one, full with a valid one.
        short = anon.get("/health")
        assert short.status_code == 200 and set(short.json()) == {"status", "degradation_level"}
        assert anon.get("/health", headers={"X-API-Key": "bad"}).status_code == 401
        assert "services" in anon.get("/health", headers={"X-API-Key": dash.api_key}).json()
        assert anon.get("/health/live").status_code == 200
        assert anon.get("/health/ready").status_code == 200
        # The API description is only for key holders.
        assert anon.get("/openapi.json").status_code == 401 and anon.get("/docs").status_code == 401
        spec = anon.get("/openapi.json", headers={"X-API-Key": dash.api_key})
        assert spec.status_code == 200 and "/api/inventory" in spec.json()["paths"]


def test_request_id_echoed_or_generated(dash):
    with dash.client() as api:
        echoed = api.get("/health", headers={"X-Request-ID": "trace-abc-123"})
        assert echoed.headers["X-Request-ID"] == "trace-abc-123"
        generated = {api.get("/health").headers["X-Request-ID"] for _ in range(3)}
        assert len(generated) == 3 and all(len(g) >= 16 for g in generated)


def test_bad_input_is_4xx_json_with_headers(dash):
    with dash.client() as api:
        cases = [
            (api.post("/api/inventory", content=b"{not json", headers={"Content-Type": "application/json"}),
             400, "malformed_json"),
            (api.post("/api/inventory", json={"sku": "A1", "name": "x", "quantity": "five"}), 422, "validation_error"),
            (api.post("/api/inventory", json={"sku": "A1", "name": "x", "quantity": -1}), 422, "validation_error"),
            (api.post("/api/inventory", json={"sku": "bad sku!", "name": "x"}), 422, "validation_error"),
            (api.post("/api/inventory", json=["a", "list"]), 422, "validation_error"),
            (api.post("/api/files", content=b"x" * (MAX_BODY + 1)), 413, "payload_too_large"),
            (api.get("/api/inventory/NO-SUCH-SKU-1"), 404, "unknown_sku"),
            (api.patch("/api/inventory/NO-SUCH-SKU-1", json={"name": "y"}), 404, "unknown_sku"),
            (api.get("/api/inventory", params={"limit": "many"}), 422, "validation_error"),
            (api.get("/no/such/route"), 404, "not_found"),
            (api.put("/api/inventory"), 405, "method_not_allowed"),
        ]
    for response, status, code in cases:
        assert response.status_code == status, (code, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"] == code
        assert_security_headers(response)


def test_every_sku_a_create_accepts_can_be_read_and_deleted_by_its_url(dash):
    """"." and ".." are dot segments: every client drops them from a URL (RFC 3986 5.2.4), so an
    item with such a SKU could be created but never read or deleted (the fuzz phase made one and
    its cleanup got 405). A SKU starts with a letter or digit; each accepted one round-trips."""
    with dash.client() as api:
        for sku in (".", "..", "-x", "_x", ".x"):
            refused = api.post("/api/inventory", json={"sku": sku, "name": "dot"})
            assert refused.status_code == 422, (sku, refused.status_code, refused.text)
        suffix = "".join(random.choices(string.ascii_uppercase, k=6))
        for sku in (f"0.{suffix}", f"A..{suffix}", f"z-_.{suffix}"):
            assert api.post("/api/inventory", json={"sku": sku, "name": "dot"}).status_code == 201, sku
            assert api.get(f"/api/inventory/{sku}").json()["item"]["sku"] == sku
            assert api.delete(f"/api/inventory/{sku}").status_code == 204, sku
            assert api.get(f"/api/inventory/{sku}").status_code == 404, sku


def test_chunked_oversized_body_is_413(dash):
    def chunks():
        for _ in range(MAX_BODY // 4096 + 2):
            yield b"y" * 4096   # no Content-Length: the limit must hold while streaming
    with dash.client() as api:
        response = api.post("/api/files", content=chunks())
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert_security_headers(response)


def test_metrics_every_series_and_bounded_cardinality(dash):
    with dash.client() as api:
        wait_optimal(api)
        api.get("/api/inventory/NO-SUCH-SKU-2")
        for _ in range(1000):
            path = "/" + "/".join("".join(random.choices(string.ascii_lowercase + string.digits, k=8))
                                  for _ in range(random.randint(1, 3)))
            assert api.get(path).status_code == 404
        text = api.get("/metrics").text
    parsed = samples(text)
    names = {s.name for s in parsed}
    for series, labels in SERIES.items():
        found = [s for s in parsed if s.name == series]
        assert found, f"missing series {series}"
        assert all(set(s.labels) == labels for s in found), (series, found[0].labels)
    routes = {s.labels["route"] for s in parsed if s.name == "dashboard_requests_total"}
    assert "<unmatched>" in routes and "/api/inventory/{sku}" in routes
    assert len(routes) < 30, routes          # 1,000 random paths collapsed into one label
    assert len(parsed) < 2000, len(parsed)
    assert names >= set(SERIES)
    level = [s.value for s in parsed if s.name == "dashboard_degradation_level"]
    assert level == [1.0]
    up = {s.labels["service"]: s.value for s in parsed if s.name == "dashboard_service_up"}
    assert up == {"database": 1.0, "openai": 1.0, "redis": 1.0, "s3": 1.0}


def test_json_logs_have_contract_fields_and_no_secrets(dash, deps):
    with dash.client() as api:
        api.get("/health", headers={"X-Request-ID": "log-probe-77"})
    deadline = time.monotonic() + 5
    entries = []
    while time.monotonic() < deadline:
        entries = [json.loads(line) for line in dash.log_file.read_text().splitlines() if line.strip()]
        if any(e.get("request_id") == "log-probe-77" for e in entries):
            break
        time.sleep(0.1)
    access = [e for e in entries if e.get("request_id") == "log-probe-77"]
    assert access, "access log line for the request not found"
    fields = {"ts", "level", "logger", "msg", "request_id", "method", "route", "status", "duration_ms", "client_ip"}
    assert fields <= set(access[0])
    assert access[0]["route"] == "/health" and access[0]["status"] == 200 and access[0]["method"] == "GET"
    raw = dash.log_file.read_text() + dash.proc.log_tail(10**7)
    for secret in (dash.api_key, deps.env["POSTGRES_PASSWORD"], deps.env["REDIS_PASSWORD"],
                   deps.env["OPENAI_API_KEY"], deps.env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in raw


def test_event_streams_are_capped_and_released(dash):
    """REDIS_MAX_CONNECTIONS=50 (default) → at most 12 streams; the 13th is refused without
    touching Redis, and every slot comes back when the streams end."""
    import concurrent.futures
    import threading
    cap = 50 // 4
    opened = threading.Barrier(cap + 1, timeout=20)

    def hold_stream() -> int:
        with dash.client() as client:
            with client.stream("GET", "/api/events", params={"timeout": 4, "max_events": 1}) as response:
                opened.wait()
                for _ in response.iter_lines():
                    pass
                return response.status_code
    with concurrent.futures.ThreadPoolExecutor(cap) as pool:
        futures = [pool.submit(hold_stream) for _ in range(cap)]
        opened.wait()   # all `cap` streams are open now
        with dash.client() as client:
            refused = client.get("/api/events", params={"timeout": 1, "max_events": 1})
        assert refused.status_code == 503 and refused.json()["error"] == "too_many_streams", refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert [f.result(timeout=30) for f in futures] == [200] * cap
    with dash.client() as client:
        again = client.get("/api/events", params={"timeout": 0.5, "max_events": 1})
        assert again.status_code == 200 and "event: end" in again.text
        report = client.get("/health").json()
    assert report["services"]["redis"]["circuit_breaker"]["failure_count"] == 0
