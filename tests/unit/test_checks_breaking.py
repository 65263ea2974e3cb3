"""Every registered check fails on a specific broken input: a tmp copy of the known-good fixture
stack with one targeted mutation. The meta-test makes an untested new check a failing test."""

from __future__ import annotations

import json

import pytest

from stagectl.binaries import Resolution
from stagectl.validate.runner import load_builtin_checks
from tests.unit.fixtures_checks.helpers import (
    ALERT_TESTS,
    ALERTS,
    COMPOSE,
    DASHBOARD_JSON,
    DATASOURCE,
    EXAMPLE,
    PROM,
    PROVIDER,
    RENDERED_ENV,
    S3,
    append,
    chmod,
    copy_stack,
    drop_env,
    edit_yaml,
    remove,
    replace,
    run,
    set_env,
    user_env,
)
from tests.unit.fixtures_checks.k8s_cases import KUBERNETES_CASES


def svc(name):
    """A mutation helper: the compose service `name` of a loaded compose document."""
    return lambda d: d["services"][name]


def rule(i):
    return lambda d: d["groups"][0]["rules"][i]


def dashboard_json(root, change):
    path = root / DASHBOARD_JSON
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def example_broken_but_user_env_ok(root, line):
    user_env(root)  # the loader reads .env.staging, so a bad example line reaches only the check
    append(root, EXAMPLE, line)


SETTINGS = "dashboard/inventario_dashboard/settings.py"
MISSPELT_ALIAS = 's3_bucket_name: str = Field("", validation_alias=AliasChoices("S3_BUCKT_NAME"))'

NO_PATH = {"search_path": "/nonexistent-bin-dir"}
NOT_FOUND = {"resolver": lambda service: Resolution(None, f"{service.runner} not found", "apt-get install it")}

# check id → (mutation of the stack root, extra CheckContext arguments)
CASES: dict[str, tuple] = {
    # files
    "files.compose_file": (lambda r: remove(r, COMPOSE), {}),
    "files.compose_env": (lambda r: remove(r, RENDERED_ENV), {}),
    "files.prometheus_config": (lambda r: remove(r, PROM), {}),
    "files.alert_rules": (lambda r: remove(r, ALERTS), {}),
    "files.alert_tests": (lambda r: remove(r, ALERT_TESTS), {}),
    "files.s3_init": (lambda r: chmod(r, S3, 0o644), {}),
    "files.grafana_datasources": (lambda r: remove(r, DATASOURCE), {}),
    "files.grafana_dashboards": (lambda r: remove(r, PROVIDER), {}),
    "files.env_example": (lambda r: example_broken_but_user_env_ok(r, "this line is not an assignment\n"), {}),
    "files.dashboard_package": (lambda r: remove(r, "dashboard/inventario_dashboard/__init__.py"), {}),
    "files.yaml_parses": (lambda r: append(r, "compose/prometheus/extra.yml", "a: [unclosed\n"), {}),
    "files.no_leftovers": (lambda r: append(r, COMPOSE + ".orig", "x"), {}),
    # compose
    "compose.top_level_keys": (lambda r: edit_yaml(r, COMPOSE, lambda d: d.update(volume={})), {}),
    "compose.no_obsolete_version": (lambda r: edit_yaml(r, COMPOSE, lambda d: d.update(version="3.8")), {}),
    "compose.project_name": (lambda r: edit_yaml(r, COMPOSE, lambda d: d.update(name="other-project")), {}),
    "compose.services_match_spec": (lambda r: edit_yaml(r, COMPOSE, lambda d: d["services"].pop("llm")), {}),
    "compose.service_keys": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).update(healtcheck={})), {}),
    "compose.image_or_build": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).pop("image")), {}),
    "compose.images_pinned": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).update(image="redis:latest")), {}),
    "compose.image_matches_spec": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).update(image="redis:7.2-alpine")), {}),
    "compose.build_context": (lambda r: remove(r, "dashboard/Dockerfile"), {}),
    "compose.depends_on_match_spec": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("dashboard")(d)["depends_on"].pop("llm")), {}),
    "compose.depends_on_healthy": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("dashboard")(d)["depends_on"]["postgres"].update(condition="service_started")), {}),
    "compose.restart_policy": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("postgres")(d).pop("restart")), {}),
    "compose.memory_limits": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).pop("deploy")), {}),
    "compose.stop_signal": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("postgres")(d).pop("stop_signal")), {}),
    # healthchecks
    "healthchecks.present": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).pop("healthcheck")), {}),
    "healthchecks.test_form": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d)["healthcheck"].update(test=["redis-cli", "ping"])), {}),
    "healthchecks.durations_valid": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d)["healthcheck"].update(interval=10)), {}),
    "healthchecks.timeout_lt_interval": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("postgres")(d)["healthcheck"].update(timeout="15s")), {}),
    "healthchecks.retries_positive": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("postgres")(d)["healthcheck"].update(retries=0)), {}),
    "healthchecks.executables_in_image": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("prometheus")(d)["healthcheck"].update(test=["CMD", "curl", "-fsS", "http://127.0.0.1:9090/-/ready"])), {}),
    "healthchecks.match_spec": (lambda r: replace(r, COMPOSE, "pg_isready -U $${POSTGRES_USER}", "pg_isready -U ${POSTGRES_USER}"), {}),
    # ports
    "ports.in_range": (lambda r: replace(r, COMPOSE, '"127.0.0.1:${DASHBOARD_PORT:-8080}:8080"', '"127.0.0.1:80:8080"'), {}),
    "ports.unique": (lambda r: replace(r, COMPOSE, '"127.0.0.1:${GRAFANA_PORT:-3001}:3000"', '"127.0.0.1:${DASHBOARD_PORT}:3000"'), {}),
    "ports.match_spec": (lambda r: replace(r, COMPOSE, '"127.0.0.1:${DASHBOARD_PORT:-8080}:8080"', '"127.0.0.1:8081:8080"'), {}),
    "ports.only_published": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("postgres")(d).update(ports=["127.0.0.1:5433:5432"])), {}),
    "ports.loopback_bound": (lambda r: replace(r, COMPOSE, '"127.0.0.1:${DASHBOARD_PORT:-8080}:8080"', '"${DASHBOARD_PORT:-8080}:8080"'), {}),
    "ports.env_ports_valid": (lambda r: (user_env(r), set_env(r, EXAMPLE, "REDIS_PORT", "5433")), {}),
    "ports.urls_consistent": (lambda r: set_env(r, EXAMPLE, "S3_ENDPOINT_URL", "http://127.0.0.1:4567"), {}),
    # volumes
    "volumes.declared": (lambda r: edit_yaml(r, COMPOSE, lambda d: d["volumes"].pop("dashboard_logs")), {}),
    "volumes.used": (lambda r: edit_yaml(r, COMPOSE, lambda d: d["volumes"].update(orphan_data=None)), {}),
    "volumes.match_spec": (lambda r: replace(r, COMPOSE, "postgres_staging_data:/var/lib/postgresql/data", "postgres_staging_data:/var/lib/postgresql"), {}),
    "volumes.bind_sources_exist": (lambda r: replace(r, COMPOSE, "./prometheus/alerts.staging.yml:", "./prometheus/alerts.yml:"), {}),
    "volumes.config_read_only": (lambda r: replace(r, COMPOSE, "./grafana/provisioning:/etc/grafana/provisioning:ro", "./grafana/provisioning:/etc/grafana/provisioning"), {}),
    "volumes.redis_appendonly": (lambda r: set_env(r, EXAMPLE, "REDIS_APPENDONLY", "no"), {}),
    "volumes.prometheus_storage": (lambda r: replace(r, COMPOSE, "- --storage.tsdb.path=/prometheus\n", ""), {}),
    # network
    "network.declared": (lambda r: edit_yaml(r, COMPOSE, lambda d: d.pop("networks")), {}),
    "network.all_attached": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).pop("networks")), {}),
    "network.no_host_mode": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).update(network_mode="host")), {}),
    "network.only_declared": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d)["networks"].append("shared")), {}),
    "network.not_external": (lambda r: edit_yaml(r, COMPOSE, lambda d: d["networks"]["staging-network"].update(external=True)), {}),
    # env
    "env.example_commented": (lambda r: append(r, EXAMPLE, "\nUNDOCUMENTED_KNOB=1\n"), {}),
    "env.no_duplicates": (lambda r: append(r, EXAMPLE, "# again\nDEBUG=false\n"), {}),
    "env.compose_vars_defined": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d)["environment"].update(EXTRA="${NOT_IN_EXAMPLE}")), {}),
    "env.spec_vars_defined": (lambda r: replace(r, "stagectl.yaml", "${POSTGRES_PORT:-5433}", "${POSTGRES_PORTT:-5433}"), {}),
    "env.compose_env_known": (lambda r: append(r, RENDERED_ENV, "STALE_VARIABLE=1\n"), {}),
    "env.user_env_complete": (lambda r: (user_env(r), drop_env(r, ".env.staging", "REDIS_CACHE_TTL")), {}),
    "env.secrets_marked": (lambda r: append(r, EXAMPLE, "# a token for the registry\nREGISTRY_TOKEN=x\n"), {}),
    "env.booleans": (lambda r: user_env(r, DEBUG="yes"), {}),
    "env.integers": (lambda r: user_env(r, DB_POOL_MAX_SIZE="ten"), {}),
    "env.urls": (lambda r: user_env(r, OPENAI_BASE_URL="127.0.0.1:8090/v1"), {}),
    "env.logging": (lambda r: user_env(r, LOG_LEVEL="VERBOSE"), {}),
    "env.staging_mode": (lambda r: user_env(r, ENVIRONMENT="development"), {}),
    # breakers
    "breakers.present": (lambda r: drop_env(r, EXAMPLE, "S3_CB_HALF_OPEN_REQUESTS"), {}),
    "breakers.positive_integers": (lambda r: user_env(r, DB_CB_FAILURE_THRESHOLD="0"), {}),
    "breakers.contract_defaults": (lambda r: set_env(r, EXAMPLE, "DB_CB_FAILURE_THRESHOLD", "4"), {}),
    "breakers.no_unknown": (lambda r: append(r, EXAMPLE, "# typo\nDB_CB_FAILURE_TRESHOLD=3\n"), {}),
    "breakers.fallback_flags": (lambda r: user_env(r, DB_DEGRADED_READ_ONLY="maybe"), {}),
    "breakers.half_open_within_threshold": (lambda r: user_env(r, DB_CB_HALF_OPEN_REQUESTS="5"), {}),
    # degradation
    "degradation.weights_format": (lambda r: user_env(r, SERVICE_WEIGHTS="database=50,openai:30,redis:15,s3:5"), {}),
    "degradation.weights_services": (lambda r: user_env(r, SERVICE_WEIGHTS="database:50,openai:30,redis:15,cache:5"), {}),
    "degradation.weights_sum": (lambda r: user_env(r, SERVICE_WEIGHTS="database:50,openai:30,redis:15,s3:10"), {}),
    "degradation.thresholds_ordered": (lambda r: user_env(r, LIMITED_THRESHOLD="75"), {}),
    "degradation.contract_defaults": (lambda r: set_env(r, EXAMPLE, "OPTIMAL_THRESHOLD", "95"), {}),
    "degradation.interval_gt_timeout": (lambda r: user_env(r, HEALTH_CHECK_TIMEOUT="10"), {}),
    "degradation.recovery_checks": (lambda r: user_env(r, DEGRADATION_RECOVERY_CHECKS="0"), {}),
    "degradation.budgets_within_timeout": (lambda r: user_env(r, OPENAI_HEALTH_BUDGET_MS="5000"), {}),
    # prometheus
    "prometheus.top_level_keys": (lambda r: edit_yaml(r, PROM, lambda d: d.update(scrape_config=[])), {}),
    "prometheus.promtool_config": (lambda r: edit_yaml(r, PROM, lambda d: d["scrape_configs"][1].update(static_config=[])), {}),
    "prometheus.intervals": (lambda r: edit_yaml(r, PROM, lambda d: d["global"].update(scrape_interval="30s")), {}),
    "prometheus.rule_files": (lambda r: edit_yaml(r, PROM, lambda d: d.update(rule_files=["/etc/prometheus/rules.yml"])), {}),
    "prometheus.job_names_unique": (lambda r: edit_yaml(r, PROM, lambda d: d["scrape_configs"][2].update(job_name="postgres")), {}),
    "prometheus.targets_known": (lambda r: replace(r, PROM, "redis-exporter:9121", "redis-exporter:9999"), {}),
    "prometheus.dashboard_job": (lambda r: edit_yaml(r, PROM, lambda d: d["scrape_configs"][0].pop("authorization")), {}),
    "prometheus.target_labels_kept": (lambda r: edit_yaml(r, PROM, lambda d: d["scrape_configs"][0]["static_configs"][0].update(labels={"service": "dashboard"})), {}),
    "prometheus.exporter_jobs": (lambda r: edit_yaml(r, PROM, lambda d: d["scrape_configs"].pop(2)), {}),
    # alerts
    "alerts.schema": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(0)(d).update(annotation=rule(0)(d).pop("annotations"))), {}),
    "alerts.contract_eight": (lambda r: edit_yaml(r, ALERTS, lambda d: d["groups"][0]["rules"].pop(3)), {}),
    "alerts.contract_severities": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(0)(d)["labels"].update(severity="warning")), {}),
    "alerts.severity_labels": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(6)(d)["labels"].update(severity="page")), {}),
    "alerts.unique_names": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(1)(d).update(alert="DatabaseCircuitBreakerOpen")), {}),
    "alerts.promql_syntax": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(0)(d).update(expr='circuit_breaker_state{service="database"} == (1')), {}),
    "alerts.promtool_rules": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(0)(d).update(expr='rate(circuit_breaker_state{service="database"}) == 1')), {}),
    "alerts.metrics_exposed": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(4)(d).update(expr="dashboard_degradation_lvl > 1")), {}),
    "alerts.annotations": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(0)(d).pop("annotations")), {}),
    "alerts.for_duration": (lambda r: edit_yaml(r, ALERTS, lambda d: rule(0)(d).pop("for")), {}),
    "alerts.thresholds_match_env": (lambda r: set_env(r, EXAMPLE, "ALERT_5XX_RATIO", "0.1"), {}),
    "alerts.tests_cover_all": (lambda r: edit_yaml(r, ALERT_TESTS, lambda d: d["tests"][1]["alert_rule_test"].pop(1)), {}),
    # grafana
    "grafana.datasource_schema": (lambda r: edit_yaml(r, DATASOURCE, lambda d: d.update(apiVersion=2)), {}),
    "grafana.prometheus_datasource": (lambda r: replace(r, DATASOURCE, "http://prometheus:9090", "http://prometheus:9091"), {}),
    "grafana.single_default": (lambda r: replace(r, DATASOURCE, "isDefault: true", "isDefault: false"), {}),
    "grafana.provider_schema": (lambda r: replace(r, PROVIDER, "type: file", "type: http"), {}),
    "grafana.provider_path": (lambda r: replace(r, PROVIDER, "path: /var/lib/grafana/dashboards", "path: /var/lib/grafana/other"), {}),
    "grafana.dashboards_valid": (lambda r: dashboard_json(r, lambda d: d.pop("uid")), {}),
    "grafana.queries_parse": (lambda r: dashboard_json(r, lambda d: d["panels"][1]["targets"][0].update(expr="sum(rate(dashboard_requests_total[5m])")), {}),
    "grafana.metrics_exposed": (lambda r: dashboard_json(r, lambda d: d["panels"][0]["targets"][0].update(expr="dashboard_health")), {}),
    "grafana.panel_datasource": (lambda r: dashboard_json(r, lambda d: d["panels"][0].update(datasource={"type": "loki", "uid": "loki"})), {}),
    # s3
    "s3.strict_mode": (lambda r: replace(r, S3, "set -euo pipefail\n", ""), {}),
    "s3.shell_syntax": (lambda r: append(r, S3, "if then fi\n"), {}),
    "s3.bucket_created": (lambda r: replace(r, S3, 's3api create-bucket --bucket "$bucket" || true', "true"), {}),
    "s3.bucket_idempotent": (lambda r: replace(r, S3, 's3api create-bucket --bucket "$bucket" || true', 's3api create-bucket --bucket "$bucket"'), {}),
    "s3.versioning": (lambda r: replace(r, S3, "Status=Enabled", "Status=Suspended"), {}),
    "s3.cors": (lambda r: replace(r, S3, "${S3_CORS_ORIGINS//,/ }", "http://example.org"), {}),
    "s3.lifecycle_filter": (lambda r: replace(r, S3, '\\"Filter\\":{\\"Prefix\\":\\"\\"},', ""), {}),
    "s3.local_endpoint": (lambda r: replace(r, S3, 'aws --endpoint-url "$endpoint" s3api', "aws s3api"), {}),
    # security
    "security.user_secrets_changed": (lambda r: (r / ".env.staging").write_text((r / EXAMPLE).read_text()), {}),
    "security.user_secret_strength": (lambda r: user_env(r, POSTGRES_PASSWORD="short-pw"), {}),
    "security.redis_password_quotable": (lambda r: user_env(r, REDIS_PASSWORD='a-long-password-"quoted"'), {}),
    "security.hsts": (lambda r: set_env(r, EXAMPLE, "DASHBOARD_ENABLE_HSTS", "false"), {}),
    "security.rate_limit": (lambda r: user_env(r, DASHBOARD_RATELIMIT_REQUESTS="0"), {}),
    "security.csp": (lambda r: user_env(r, DASHBOARD_CSP="default-src *"), {}),
    "security.cors_not_wildcard": (lambda r: user_env(r, DASHBOARD_CORS_ORIGINS="*"), {}),
    "security.grafana_anonymous_off": (lambda r: user_env(r, GRAFANA_ANONYMOUS_ENABLED="true"), {}),
    "security.s3_endpoint_local": (lambda r: user_env(r, S3_ENDPOINT_URL="https://s3.amazonaws.com"), {}),
    "security.secrets_interpolated": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("grafana")(d)["environment"].update(GF_SECURITY_ADMIN_PASSWORD="hunter2hunter2")), {}),
    "security.api_key_not_hardcoded": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("dashboard")(d)["environment"].update(DASHBOARD_API_KEY="change-me-dashboard-api-key")), {}),
    "security.no_secrets_rendered": (lambda r: set_env(r, RENDERED_ENV, "POSTGRES_PASSWORD", "a-real-password-123"), {}),
    "security.no_privileged": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("redis")(d).update(privileged=True)), {}),
    "security.flags_boolean": (lambda r: user_env(r, METRICS_ENABLED="on"), {}),
    # deadvars
    "deadvars.unread": (lambda r: append(r, EXAMPLE, "# nobody reads this\nUNUSED_KNOB=1\n"), {}),
    "deadvars.aliases_known": (lambda r: replace(r, SETTINGS, 's3_bucket_name: str = ""', MISSPELT_ALIAS), {}),
    "deadvars.dashboard_env_read": (lambda r: edit_yaml(r, COMPOSE, lambda d: svc("dashboard")(d)["environment"].update(IGNORED_BY_APP="${DEBUG}")), {}),
    # system
    "system.python": (lambda r: None, {"python_version": (3, 9)}),
    "system.postgres": (lambda r: None, NOT_FOUND),
    "system.redis": (lambda r: None, NOT_FOUND),
    "system.prometheus": (lambda r: None, NOT_FOUND),
    "system.promtool": (lambda r: None, NO_PATH),
    "system.moto": (lambda r: None, NOT_FOUND),
    "system.python_packages": (lambda r: None, {"module_available": lambda name: name != "psycopg"}),
    "system.dashboard_installed": (lambda r: None, {"module_available": lambda name: name != "inventario_dashboard"}),
}

CASES.update(KUBERNETES_CASES)


def test_every_registered_check_has_a_breaking_case():
    registered = set(load_builtin_checks())
    assert sorted(registered - set(CASES)) == [], "add a breaking case for each new check"
    assert sorted(set(CASES) - registered) == [], "a case for a check that no longer exists"


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_mutation_makes_the_check_fail(tmp_path, check_id):
    """(test_checks.py::test_unbroken_fixture_passes_every_check shows the unmutated stack passes,
    so the failure here is the mutation's.)"""
    root = copy_stack(tmp_path)
    mutate, context_args = CASES[check_id]
    mutate(root)
    results = run(root, check_id, **context_args)
    assert any(r.status == "fail" for r in results), [(r.status, r.message) for r in results]
    failures = [r for r in results if r.status == "fail"]
    assert all(r.message and r.id.startswith(check_id) and r.section for r in failures)


def test_rate_limit_switched_off_fails_validate(tmp_path):
    """Finding 8 of the hardening review: a staging env file with the limiter off must not pass
    (the CASES entry breaks the request count; this one plants the switch itself)."""
    root = copy_stack(tmp_path)
    user_env(root, DASHBOARD_RATELIMIT_ENABLED="false")
    results = run(root, "security.rate_limit")
    failures = [r for r in results if r.status == "fail"]
    assert failures and "DASHBOARD_RATELIMIT_ENABLED" in failures[0].message, [(r.status, r.message) for r in results]
