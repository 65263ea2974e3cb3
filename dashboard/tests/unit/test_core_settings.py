"""Settings: every dashboard variable of .env.staging.example, validation, no secret leaks."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from inventario_dashboard.settings import EXAMPLE_API_KEY, Settings, SettingsError, load_settings

EXAMPLE_ENV = Path(__file__).resolve().parents[3] / ".env.staging.example"
# Read by stagectl or compose only (ports of other services, bench/alert targets, server tuning).
NOT_READ_BY_DASHBOARD = {
    "COMPOSE_PROJECT_NAME", "POSTGRES_MAX_CONNECTIONS", "REDIS_MAXMEMORY", "REDIS_MAXMEMORY_POLICY",
    "REDIS_APPENDONLY", "S3_PORT", "S3_CORS_ORIGINS", "S3_LIFECYCLE_NONCURRENT_DAYS", "LLM_STUB_PORT",
    "PROMETHEUS_PORT", "PROMETHEUS_SCRAPE_INTERVAL", "PROMETHEUS_RETENTION", "POSTGRES_EXPORTER_PORT",
    "REDIS_EXPORTER_PORT", "ALERT_5XX_RATIO", "ALERT_P95_LATENCY_SECONDS", "GRAFANA_PORT",
    "GRAFANA_ADMIN_USER", "GRAFANA_ADMIN_PASSWORD", "GRAFANA_ANONYMOUS_ENABLED", "PERF_HEALTH_P95_MS",
    "PERF_API_P95_MS", "PERF_DB_QUERY_MS", "PERF_REDIS_OP_MS", "PERF_S3_OP_MS", "PERF_CONCURRENCY",
    "PERF_READ_P99_MS", "PERF_HEALTH_CEILING_SHARE",
    # the dashboard's own database role: the backends create it and hand it to the dashboard as
    # its POSTGRES_USER / POSTGRES_PASSWORD, so the process never reads these names
    "DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD",
}
SECRET_FIELDS = {
    "postgres_password", "redis_password", "aws_access_key_id", "aws_secret_access_key",
    "openai_api_key", "dashboard_api_key",
}
SENTINELS = {name: f"sentinel-{name}-7f3a" for name in SECRET_FIELDS}


def example_vars() -> dict[str, str]:
    pairs = {}
    for line in EXAMPLE_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def test_fields_are_exactly_the_dashboard_variables_of_the_example():
    fields = {name.upper() for name in Settings.model_fields}
    wanted = set(example_vars()) - NOT_READ_BY_DASHBOARD
    assert sorted(fields - wanted) == [] and sorted(wanted - fields) == []


def test_secrets_are_secret_str():
    secret_typed = {n for n, f in Settings.model_fields.items() if f.annotation is SecretStr}
    assert secret_typed == SECRET_FIELDS


def test_example_file_loads_once_the_api_key_is_real(tmp_path):
    text = EXAMPLE_ENV.read_text().replace(f"DASHBOARD_API_KEY={EXAMPLE_API_KEY}", "DASHBOARD_API_KEY=real-key-123")
    env_file = tmp_path / ".env.staging"
    env_file.write_text(text)
    s = load_settings(_env_file=str(env_file))
    raw = example_vars()
    for name in Settings.model_fields:
        value, source = getattr(s, name), raw[name.upper()]
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
            if name == "dashboard_api_key":
                source = "real-key-123"
        if isinstance(value, bool):
            assert value is (source == "true"), name
        elif isinstance(value, (int, float)):
            assert value == float(source), name
        elif name == "service_weights":
            assert value == {k: int(v) for k, v in (p.split(":") for p in source.split(","))}
        elif name in ("dashboard_cors_origins", "dashboard_trusted_proxies"):
            assert value == [o.strip() for o in source.split(",") if o.strip()], name
        else:
            assert value == source, name


def non_default_environment() -> dict[str, str]:
    """A valid value different from the default for every field, as environment strings."""
    special = {
        # "test", not "production": production refuses DASHBOARD_RATELIMIT_ENABLED=false (flipped below)
        "environment": "test", "app_version": "9.9.9", "dashboard_host": "0.0.0.0",
        "postgres_host": "db.internal", "postgres_db": "other_db", "postgres_user": "someone",
        "redis_host": "cache.internal", "s3_endpoint_url": "http://s3.internal:9000",
        "s3_bucket_name": "another-bucket", "aws_default_region": "eu-west-1",
        "openai_base_url": "https://llm.internal/v1", "openai_model": "other-model",
        "service_weights": "database:40,openai:40,redis:10,s3:10",
        "dashboard_csp": "default-src 'self'", "dashboard_cors_origins": "http://a.test, http://b.test",
        "dashboard_trusted_proxies": "10.0.0.2, ::1",
        "log_level": "debug", "log_format": "text", "request_id_header": "X-Trace-Id",
    }
    env = {}
    for name, field in Settings.model_fields.items():
        default = field.default
        if name in special:
            env[name.upper()] = special[name]
        elif name in SECRET_FIELDS:
            env[name.upper()] = SENTINELS[name]
        elif isinstance(default, bool):
            env[name.upper()] = str(not default).lower()
        elif isinstance(default, (int, float)):
            env[name.upper()] = str(default + 1)
        else:
            raise AssertionError(f"no non-default value for {name}")
    return env


def test_every_field_is_read_from_its_environment_variable(monkeypatch):
    env = non_default_environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings(_env_file=None)
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        assert getattr(s, name) != getattr(defaults, name), f"{name.upper()} was not read"
    assert s.service_weights == {"database": 40, "openai": 40, "redis": 10, "s3": 10}
    assert s.dashboard_cors_origins == ["http://a.test", "http://b.test"]
    assert s.dashboard_trusted_proxies == ["10.0.0.2", "::1"]
    assert s.log_level == "DEBUG" and s.environment == "test"
    assert s.breaker_config("database") == (4, 21.0, 2)
    assert s.health_budget_ms("redis") == 101.0


def test_repr_and_json_never_show_secrets(make_settings):
    s = make_settings(**SENTINELS)
    for text in (repr(s), str(s), s.model_dump_json()):
        for sentinel in SENTINELS.values():
            assert sentinel not in text


@pytest.mark.parametrize(
    "overrides,named",
    [
        ({"service_weights": "database:50,openai:30,redis:15,s3:10"}, "SERVICE_WEIGHTS"),
        ({"service_weights": "database:50,openai:30,redis:20"}, "SERVICE_WEIGHTS"),
        ({"service_weights": "database=50"}, "SERVICE_WEIGHTS"),
        ({"degraded_threshold": 95}, "OPTIMAL_THRESHOLD > DEGRADED_THRESHOLD"),
        ({"limited_threshold": 70}, "OPTIMAL_THRESHOLD > DEGRADED_THRESHOLD > LIMITED_THRESHOLD"),
        ({"minimal_threshold": 65}, "MINIMAL_THRESHOLD"),
        ({"environment": "staging", "dashboard_api_key": EXAMPLE_API_KEY}, "DASHBOARD_API_KEY"),
        ({"environment": "staging", "dashboard_api_key": ""}, "DASHBOARD_API_KEY"),
        ({"environment": "staging", "dashboard_api_key": "   "}, "DASHBOARD_API_KEY"),
        ({"postgres_port": "not-a-port"}, "POSTGRES_PORT"),
        ({"redis_port": 70000}, "REDIS_PORT"),
        ({"log_level": "verbose"}, "LOG_LEVEL"),
        ({"db_pool_min_size": 20, "db_pool_max_size": 5}, "DB_POOL_MIN_SIZE"),
        ({"s3_endpoint_url": "s3.internal:4566"}, "S3_ENDPOINT_URL"),
        ({"db_cb_failure_threshold": 0}, "DB_CB_FAILURE_THRESHOLD"),
    ],
)
def test_invalid_settings_name_the_variable_and_leak_no_secret(make_settings, overrides, named):
    secrets = {k: v for k, v in SENTINELS.items() if k not in overrides}
    with pytest.raises(SettingsError) as info:
        make_settings(**{**secrets, **overrides})
    text = str(info.value)
    assert named in text
    shown = text + "".join(traceback.format_exception(info.value))
    for secret in [*secrets.values(), EXAMPLE_API_KEY]:
        assert secret not in shown


def test_raw_validation_error_hides_input_too(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.setenv("DASHBOARD_API_KEY", EXAMPLE_API_KEY)
    monkeypatch.setenv("POSTGRES_PASSWORD", SENTINELS["postgres_password"])
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    text = str(info.value)
    assert "input_value" not in text  # pydantic would otherwise echo (part of) the raw input
    assert EXAMPLE_API_KEY not in text and SENTINELS["postgres_password"] not in text


def test_staging_with_a_real_key_loads_and_development_tolerates_the_example(make_settings):
    assert make_settings(environment="staging", dashboard_api_key="k-9d2").environment == "staging"
    assert make_settings(environment="development", dashboard_api_key=EXAMPLE_API_KEY).environment == "development"


def test_unknown_override_is_rejected(make_settings):
    with pytest.raises(SettingsError, match="postgres_prot"):
        make_settings(postgres_prot=5433)


def test_feature_flags_helper_lists_the_five_flags(make_settings):
    flags = make_settings(feature_realtime_enabled=False).feature_flags
    assert flags == {
        "feature_ai_enabled": True, "feature_cache_enabled": True, "feature_realtime_enabled": False,
        "feature_s3_enabled": True, "feature_analytics_enabled": True,
    }
