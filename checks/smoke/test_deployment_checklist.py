"""Deployment checklist: every configured value is the one the live service uses."""

from __future__ import annotations

import pytest

from ._support import SERVICES, full_health


class TestDeploymentChecklist:
    def test_environment_and_version(self, cfg, api):
        """Fault: the dashboard runs with another ENVIRONMENT or APP_VERSION than configured."""
        report = full_health(api)
        assert (report["environment"], report["version"]) == (cfg.require("ENVIRONMENT"), cfg.require("APP_VERSION"))

    def test_breaker_configs(self, cfg, api):
        """Fault: any of the 12 `*_CB_*` values not in effect."""
        report = full_health(api)
        live = {s: {k: report["services"][s]["circuit_breaker"][k] for k in cfg.breaker(s)} for s in SERVICES}
        assert live == {s: cfg.breaker(s) for s in SERVICES}

    def test_service_weights(self, cfg, api):
        """Fault: SERVICE_WEIGHTS not in effect."""
        report = full_health(api)
        assert {s: report["services"][s]["weight"] for s in SERVICES} == cfg.weights()

    def test_rate_limit_header(self, cfg, api):
        """Fault: DASHBOARD_RATELIMIT_REQUESTS/WINDOW not in effect."""
        response = api.get("/api/inventory", params={"limit": 1})
        assert response.headers.get("X-RateLimit-Limit") == cfg.require("DASHBOARD_RATELIMIT_REQUESTS")
        assert 1 <= int(response.headers.get("X-RateLimit-Reset", "0")) <= cfg.int("DASHBOARD_RATELIMIT_WINDOW")

    def test_hsts_and_csp(self, cfg, api):
        """Fault: DASHBOARD_HSTS_MAX_AGE, DASHBOARD_ENABLE_HSTS or DASHBOARD_CSP not in effect."""
        response = api.get("/health/live")
        assert response.headers.get("Content-Security-Policy") == cfg.require("DASHBOARD_CSP")
        hsts = response.headers.get("Strict-Transport-Security")
        if cfg.bool("DASHBOARD_ENABLE_HSTS"):
            assert hsts == f"max-age={cfg.int('DASHBOARD_HSTS_MAX_AGE')}; includeSubDomains"
        else:
            assert hsts is None

    def test_batch_size_is_default_page(self, cfg, api):
        """Fault: BATCH_SIZE not in effect."""
        body = api.get("/api/inventory").json()
        assert body["limit"] == cfg.int("BATCH_SIZE")

    def test_max_body_bytes(self, cfg, api):
        """Fault: DASHBOARD_MAX_BODY_BYTES not enforced (a larger body is accepted)."""
        limit = cfg.int("DASHBOARD_MAX_BODY_BYTES")
        response = api.post("/api/files", content=b"x" * (limit + 1))
        assert response.status_code == 413 and response.json()["max_body_bytes"] == limit

    def test_llm_model(self, cfg, api, unique, optimal):
        """Fault: OPENAI_MODEL not the model the dashboard asks for."""
        sku = f"SMOKE-MODEL-{unique}"
        created = api.post("/api/inventory", json={"sku": sku, "name": "model check", "quantity": 0})
        assert created.status_code == 201, created.text
        try:
            response = api.get("/api/recommendations", params={"target_stock": 5})
        finally:
            api.delete(f"/api/inventory/{sku}")
        assert response.status_code == 200 and response.json()["model"] == cfg.require("OPENAI_MODEL"), response.text

    @pytest.mark.local_access("a direct connection to the S3 endpoint")
    def test_bucket_is_configured_one(self, cfg, api, optimal):
        """Fault: uploads land in another bucket than S3_BUCKET_NAME."""
        import boto3
        from botocore.config import Config

        stored = api.post("/api/files", params={"filename": "bucket-check.txt"}, content=b"where am I")
        assert stored.status_code == 201, stored.text
        s3 = boto3.client("s3", endpoint_url=cfg.require("S3_ENDPOINT_URL"), region_name=cfg.require("AWS_DEFAULT_REGION"),
                          aws_access_key_id=cfg.require("AWS_ACCESS_KEY_ID"),
                          aws_secret_access_key=cfg.require("AWS_SECRET_ACCESS_KEY"),
                          config=Config(s3={"addressing_style": "path"}))
        head = s3.head_object(Bucket=cfg.require("S3_BUCKET_NAME"), Key=stored.json()["key"])
        assert head["ContentLength"] == len(b"where am I")

    @pytest.mark.parametrize("flag", ["FEATURE_AI_ENABLED", "FEATURE_CACHE_ENABLED", "FEATURE_REALTIME_ENABLED",
                                      "FEATURE_S3_ENABLED", "FEATURE_ANALYTICS_ENABLED"])
    def test_feature_flags(self, cfg, optimal, flag):
        """Fault: a feature flag not in effect (features of a disabled flag reported available or vice versa)."""
        gated = {"FEATURE_AI_ENABLED": ("ai_recommendations", "full_ai_pipeline"),
                 "FEATURE_CACHE_ENABLED": ("redis_cache",),
                 "FEATURE_REALTIME_ENABLED": ("real_time_updates", "real_time_inventory"),
                 "FEATURE_S3_ENABLED": ("s3_uploads", "file_storage", "image_processing", "backup_operations"),
                 "FEATURE_ANALYTICS_ENABLED": ("advanced_analytics", "basic_analytics")}[flag]
        assert {f: optimal["features"][f] for f in gated} == {f: cfg.bool(flag) for f in gated}
