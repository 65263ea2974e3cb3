"""Connectivity: each dependency answers with the configured credentials (not just a port)."""

from __future__ import annotations

import boto3
import httpx
import psycopg
import pytest
import redis
from botocore.config import Config


class TestConnectivity:
    @pytest.mark.local_access("a direct connection to PostgreSQL")
    def test_postgres_select_and_schema(self, cfg):
        """Fault: wrong POSTGRES_USER/PASSWORD/DB, database down, or the dashboard never created its tables (in its own schema)."""
        conninfo = dict(host=cfg.require("POSTGRES_HOST"), port=cfg.int("POSTGRES_PORT"),
                        user=cfg.require("POSTGRES_USER"), password=cfg.require("POSTGRES_PASSWORD"),
                        dbname=cfg.require("POSTGRES_DB"), connect_timeout=5)
        with psycopg.connect(**conninfo) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            # the dashboard's role owns the schema named after it (DASHBOARD_DB_USER)
            rows = conn.execute("select table_name from information_schema.tables where table_schema = %s",
                                [cfg.require("DASHBOARD_DB_USER")]).fetchall()
        tables = {r[0] for r in rows}
        assert {"products", "stock_movements"} <= tables, f"dashboard tables missing; found {sorted(tables)}"

    @pytest.mark.local_access("a direct connection to Redis")
    def test_redis_ping_with_password(self, cfg):
        """Fault: Redis down, or REDIS_PASSWORD not the one the server requires."""
        client = redis.Redis(host=cfg.require("REDIS_HOST"), port=cfg.int("REDIS_PORT"), db=cfg.int("REDIS_DB"),
                             password=cfg.require("REDIS_PASSWORD"), socket_timeout=5)
        try:
            assert client.ping() is True
        finally:
            client.close()

    @pytest.mark.local_access("a direct connection to the S3 endpoint")
    def test_s3_bucket_exists_with_versioning(self, cfg):
        """Fault: the S3 stand-in down, the bucket missing, or the init step did not enable versioning."""
        s3 = boto3.client("s3", endpoint_url=cfg.require("S3_ENDPOINT_URL"),
                          region_name=cfg.require("AWS_DEFAULT_REGION"),
                          aws_access_key_id=cfg.require("AWS_ACCESS_KEY_ID"),
                          aws_secret_access_key=cfg.require("AWS_SECRET_ACCESS_KEY"),
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                        connect_timeout=5, read_timeout=10))
        bucket = cfg.require("S3_BUCKET_NAME")
        s3.head_bucket(Bucket=bucket)
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"

    @pytest.mark.local_access("a direct connection to the LLM endpoint")
    def test_llm_models_with_key(self, cfg):
        """Fault: the LLM endpoint down, or OPENAI_API_KEY not accepted by it."""
        response = httpx.get(f"{cfg.require('OPENAI_BASE_URL').rstrip('/')}/models", timeout=10,
                             headers={"Authorization": f"Bearer {cfg.require('OPENAI_API_KEY')}"})
        assert response.status_code == 200, f"/v1/models answered {response.status_code}"
        models = [m["id"] for m in response.json()["data"]]
        assert cfg.require("OPENAI_MODEL") in models, f"configured model not offered; offered {models}"
