"""Fixtures of the dashboard's tests: real PostgreSQL, Redis, moto and the LLM stub on free
loopback ports (session-scoped, always torn down), and a factory for dashboard processes."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dashboard_procs as dp  # beside this conftest: pytest puts its directory on sys.path
import pytest


@dataclass
class Deps:
    """The four running dependencies and the environment that points the dashboard at them."""
    postgres: dp.Proc
    redis: dp.Proc
    s3: dp.Proc
    llm: dp.Proc
    llm_url: str
    env: dict[str, str]

    def proc(self, service: str) -> dp.Proc:
        return {"database": self.postgres, "redis": self.redis, "s3": self.s3, "openai": self.llm}[service]


@pytest.fixture(scope="session")
def deps(tmp_path_factory) -> Deps:
    tmp = tmp_path_factory.mktemp("deps")
    started: list[dp.Proc] = []
    pg_pw, redis_pw, llm_key = (secrets.token_urlsafe(16) for _ in range(3))
    try:
        # Started concurrently: PostgreSQL's initdb, moto and the stub each take a second or two.
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(dp.postgres, tmp, pg_pw), pool.submit(dp.redis, tmp, redis_pw),
                       pool.submit(dp.moto, tmp), pool.submit(dp.llm_stub, tmp, llm_key)]
            results = []
            for future in futures:
                try:
                    results.append(future.result())
                    started.append(results[-1][0])
                except Exception as exc:   # keep collecting so every started process is stopped
                    results.append(exc)
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            raise failures[0]
        (pg, pg_info), (rd, rd_info), (s3, s3_url), (llm, llm_url) = results
        env = {
            "ENVIRONMENT": "staging",
            "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(pg_info["port"]),
            "POSTGRES_DB": pg_info["dbname"], "POSTGRES_USER": pg_info["user"], "POSTGRES_PASSWORD": pg_pw,
            "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(rd_info["port"]), "REDIS_PASSWORD": redis_pw,
            "S3_ENDPOINT_URL": s3_url, "S3_BUCKET_NAME": "inventario-test-bucket",
            "AWS_ACCESS_KEY_ID": "testing-access", "AWS_SECRET_ACCESS_KEY": "testing-secret-" + secrets.token_hex(4),
            "AWS_DEFAULT_REGION": "us-east-1",
            "OPENAI_API_KEY": llm_key, "OPENAI_BASE_URL": llm_url + "/v1", "OPENAI_TIMEOUT": "2",
            "DB_CONNECT_TIMEOUT": "1", "REDIS_SOCKET_TIMEOUT": "1", "S3_TIMEOUT": "1",
            "HEALTH_CHECK_INTERVAL": "0.5", "HEALTH_CHECK_TIMEOUT": "1",
            # Generous budgets: a loaded 2-core CI box must not make a healthy probe "degraded".
            "DB_HEALTH_BUDGET_MS": "800", "REDIS_HEALTH_BUDGET_MS": "800",
            "S3_HEALTH_BUDGET_MS": "900", "OPENAI_HEALTH_BUDGET_MS": "900",
            "DB_CB_RECOVERY_TIMEOUT": "2", "REDIS_CB_RECOVERY_TIMEOUT": "2",
            "S3_CB_RECOVERY_TIMEOUT": "2", "OPENAI_CB_RECOVERY_TIMEOUT": "2",
            "LOG_LEVEL": "INFO", "HTTP_RETRY_ATTEMPTS": "2",
        }
        yield Deps(pg, rd, s3, llm, llm_url, env)
    finally:
        for proc in reversed(started):
            proc.close()


@pytest.fixture(scope="session")
def dashboard_factory(deps, tmp_path_factory):
    """``start(**env_overrides) -> Dashboard``; every dashboard started is stopped at the end."""
    started: list[dp.Dashboard] = []
    tmp = tmp_path_factory.mktemp("dashboards")

    def start(**overrides: str) -> dp.Dashboard:
        env = {**deps.env, "DASHBOARD_API_KEY": secrets.token_urlsafe(24), **overrides}
        dash = dp.Dashboard(tmp, env, name=f"dashboard{len(started)}")
        started.append(dash)
        return dash.start()
    try:
        yield start
    finally:
        for dash in started:
            dash.stop()


@pytest.fixture(scope="session")
def dashboard(dashboard_factory) -> dp.Dashboard:
    """One dashboard shared by the test modules that do not need special settings (each chaos
    test restores OPTIMAL before it ends). Limits are set so tests never trip them by accident."""
    return dashboard_factory(DASHBOARD_RATELIMIT_REQUESTS="100000", DASHBOARD_MAX_BODY_BYTES="65536")
