"""Typed settings of the Dashboard API, read from the environment (`.env.staging.example`).

Every field is one environment variable: the field name is the variable name in lower case.
Secrets are `SecretStr`, so neither `repr()` nor a validation error ever shows their value
(`hide_input_in_errors` keeps pydantic from echoing raw input, which would include them).
Variables only stagectl or compose read (exporter/Grafana/Prometheus ports, PERF_*, ALERT_*,
S3_PORT, S3_CORS_ORIGINS, REDIS_MAXMEMORY*, ...) are deliberately not fields here.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from inventario_dashboard import __version__
from inventario_dashboard.resilience.levels import SERVICES, Thresholds

EXAMPLE_API_KEY = "change-me-dashboard-api-key"
# Environments where the dashboard must be protected by a real API key.
PROTECTED_ENVIRONMENTS = frozenset({"staging", "production"})
# Env-var prefix of each service's breaker and health-budget variables.
SERVICE_PREFIX = {"database": "db", "openai": "openai", "redis": "redis", "s3": "s3"}

Port = Annotated[int, Field(ge=1, le=65535)]
PosInt = Annotated[int, Field(ge=1)]
PosFloat = Annotated[float, Field(gt=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class SettingsError(ValueError):
    """Settings could not be loaded; the message names each offending variable (never a value)."""


class BreakerConfig(NamedTuple):
    failure_threshold: int
    recovery_timeout: float
    half_open_max_calls: int


class Settings(BaseSettings):
    """All environment variables the dashboard reads (see `.env.staging.example` for meaning)."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    # --- core
    environment: Literal["development", "test", "staging", "production"] = "development"
    debug: bool = False
    app_version: str = __version__
    # --- API service
    dashboard_host: str = "127.0.0.1"
    dashboard_port: Port = 8080
    dashboard_workers: PosInt = 1
    dashboard_request_timeout: PosFloat = 30.0
    dashboard_max_body_bytes: PosInt = 1_048_576
    # Width x height an uploaded image may have; checked from its header before decoding.
    dashboard_max_image_pixels: PosInt = 16_000_000
    # --- database
    postgres_host: str = "127.0.0.1"
    postgres_port: Port = 5433
    postgres_db: str = "inventario_staging"
    postgres_user: str = "inventario"
    postgres_password: SecretStr = SecretStr("")
    db_pool_min_size: Annotated[int, Field(ge=0)] = 1
    db_pool_max_size: PosInt = 10
    db_connect_timeout: PosFloat = 5.0
    db_statement_timeout_ms: PosInt = 5000
    # --- redis
    redis_host: str = "127.0.0.1"
    redis_port: Port = 6380
    redis_db: Annotated[int, Field(ge=0)] = 0
    redis_password: SecretStr = SecretStr("")
    redis_max_connections: PosInt = 50
    redis_socket_timeout: PosFloat = 2.0
    redis_cache_ttl: PosInt = 300
    # --- S3
    s3_endpoint_url: str = "http://127.0.0.1:4566"
    s3_bucket_name: Annotated[str, Field(min_length=3, max_length=63)] = "inventario-retail-bucket-staging"
    aws_default_region: str = "us-east-1"
    aws_access_key_id: SecretStr = SecretStr("")
    aws_secret_access_key: SecretStr = SecretStr("")
    s3_timeout: PosFloat = 5.0
    # --- OpenAI (the LLM stand-in in staging)
    openai_api_key: SecretStr = SecretStr("")
    openai_base_url: str = "http://127.0.0.1:8090/v1"
    openai_model: str = "gpt-4o-mini"
    openai_timeout: PosFloat = 10.0
    # --- circuit breakers (docs/contract.md §3)
    openai_cb_failure_threshold: PosInt = 5
    openai_cb_recovery_timeout: PosFloat = 30.0
    openai_cb_half_open_requests: PosInt = 2
    db_cb_failure_threshold: PosInt = 3
    db_cb_recovery_timeout: PosFloat = 20.0
    db_cb_half_open_requests: PosInt = 1
    redis_cb_failure_threshold: PosInt = 5
    redis_cb_recovery_timeout: PosFloat = 15.0
    redis_cb_half_open_requests: PosInt = 2
    s3_cb_failure_threshold: PosInt = 4
    s3_cb_recovery_timeout: PosFloat = 25.0
    s3_cb_half_open_requests: PosInt = 2
    db_degraded_read_only: bool = True
    redis_cb_bypass_cache: bool = True
    # --- degradation manager (docs/contract.md §4)
    health_check_interval: PosFloat = 10.0
    health_check_timeout: PosFloat = 3.0
    db_health_budget_ms: PosFloat = 200.0
    openai_health_budget_ms: PosFloat = 2000.0
    redis_health_budget_ms: PosFloat = 100.0
    s3_health_budget_ms: PosFloat = 1000.0
    degradation_recovery_checks: PosInt = 2
    degradation_recovery_prediction: bool = True
    service_weights: Annotated[dict[str, int], NoDecode] = {
        "database": 50, "openai": 30, "redis": 15, "s3": 5,
    }
    optimal_threshold: Percent = 90.0
    degraded_threshold: Percent = 70.0
    limited_threshold: Percent = 60.0
    minimal_threshold: Percent = 40.0
    # --- security
    dashboard_api_key: SecretStr = SecretStr("")
    dashboard_ratelimit_enabled: bool = True
    dashboard_ratelimit_requests: PosInt = 100
    dashboard_ratelimit_window: PosInt = 60
    dashboard_enable_hsts: bool = True
    dashboard_hsts_max_age: Annotated[int, Field(ge=0)] = 63_072_000
    dashboard_csp: str = "default-src 'none'; frame-ancestors 'none'"
    dashboard_cors_origins: Annotated[list[str], NoDecode] = []
    # Proxy addresses whose X-Forwarded-For is believed (empty: the TCP peer is the client).
    dashboard_trusted_proxies: Annotated[list[str], NoDecode] = []
    # --- monitoring, outbound calls, paging
    metrics_enabled: bool = True
    http_retry_attempts: PosInt = 3
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    # --- feature flags (docs/contract.md §5)
    feature_ai_enabled: bool = True
    feature_cache_enabled: bool = True
    feature_realtime_enabled: bool = True
    feature_s3_enabled: bool = True
    feature_analytics_enabled: bool = True
    # --- logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    request_id_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")] = "X-Request-ID"

    @field_validator("environment", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("s3_endpoint_url", "openai_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("dashboard_cors_origins", "dashboard_trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("dashboard_trusted_proxies")
    @classmethod
    def _check_proxies(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError("must be a comma-separated list of IP addresses") from None
        return proxies

    @field_validator("service_weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: Any) -> Any:
        """Parse "database:50,openai:30,redis:15,s3:5" (a dict is taken as is)."""
        if not isinstance(value, str):
            return value
        weights: dict[str, int] = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            name, sep, number = pair.partition(":")
            if not sep or not number.strip().lstrip("-").isdigit():
                raise ValueError(f"expected name:integer pairs, got {pair!r}")
            weights[name.strip()] = int(number)
        return weights

    @field_validator("service_weights")
    @classmethod
    def _check_weights(cls, weights: dict[str, int]) -> dict[str, int]:
        if set(weights) != set(SERVICES):
            raise ValueError(f"must name exactly {', '.join(SERVICES)} (got {', '.join(sorted(weights))})")
        if any(w < 0 for w in weights.values()):
            raise ValueError("weights must not be negative")
        if sum(weights.values()) != 100:
            raise ValueError(f"weights must sum to 100 (got {sum(weights.values())})")
        return weights

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        order = [self.optimal_threshold, self.degraded_threshold, self.limited_threshold, self.minimal_threshold]
        if not all(a > b for a, b in zip(order, order[1:])):
            raise ValueError(
                "OPTIMAL_THRESHOLD > DEGRADED_THRESHOLD > LIMITED_THRESHOLD > MINIMAL_THRESHOLD must hold "
                f"(got {' > '.join(f'{t:g}' for t in order)})"
            )
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        if self.environment in PROTECTED_ENVIRONMENTS:
            key = self.dashboard_api_key.get_secret_value()
            if not key.strip():
                raise ValueError(f"DASHBOARD_API_KEY must be set when ENVIRONMENT={self.environment}")
            if key == EXAMPLE_API_KEY:
                raise ValueError(
                    f"DASHBOARD_API_KEY still holds the example value; set a real key for ENVIRONMENT={self.environment}"
                )
            if not self.dashboard_ratelimit_enabled:
                raise ValueError(
                    f"DASHBOARD_RATELIMIT_ENABLED=false is refused when ENVIRONMENT={self.environment}: "
                    "the rate limit is part of the API's protection (set it to true)"
                )
        return self

    # --- helpers for the rest of the package
    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.optimal_threshold, self.degraded_threshold, self.limited_threshold, self.minimal_threshold)

    @property
    def feature_flags(self) -> dict[str, bool]:
        """Flag name (field name, e.g. "feature_ai_enabled") → enabled."""
        return {name: getattr(self, name) for name in type(self).model_fields if name.startswith("feature_")}

    def breaker_config(self, service: str) -> BreakerConfig:
        """The three `*_CB_*` values of one service ("database", "openai", "redis", "s3")."""
        p = SERVICE_PREFIX[service]
        return BreakerConfig(
            getattr(self, f"{p}_cb_failure_threshold"),
            getattr(self, f"{p}_cb_recovery_timeout"),
            getattr(self, f"{p}_cb_half_open_requests"),
        )

    def health_budget_ms(self, service: str) -> float:
        """`*_HEALTH_BUDGET_MS` of one service: a slower successful probe counts as degraded."""
        return getattr(self, f"{SERVICE_PREFIX[service]}_health_budget_ms")


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]).upper()
        msg = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}" if where else msg)
    return "invalid dashboard settings:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with keyword overrides (field names; `_env_file=` reads a file).

    Raises `SettingsError` naming each bad variable; values are never included in the message.
    """
    unknown = [k for k in overrides if k not in Settings.model_fields and k != "_env_file"]
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
