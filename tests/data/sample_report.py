"""A realistic sample Report for the report tests (numbers of the order measured on these machines).

Import with `from tests.data.sample_report import build_sample_report`. `build_sample_report()` is deterministic: same
arguments, same report — the byte-identical re-render tests depend on it.
"""

from __future__ import annotations

import datetime as dt

from stagectl.report.model import (
    BenchEndpoint,
    BenchMeasurement,
    BenchPhase,
    ChaosPhase,
    ChaosScenario,
    LevelSample,
    Phases,
    RenderCheckPhase,
    Report,
    ServiceUp,
    SmokePhase,
    StepRecord,
    TeardownPhase,
    UpPhase,
    ValidatePhase,
)
from stagectl.results import CheckResult

T0 = dt.datetime(2026, 11, 28, 9, 30, 0, tzinfo=dt.timezone.utc)
VALIDATE_IDS = (  # ids of the real static checks (checks/static) plus planned ones
    "breakers.contract_defaults", "breakers.fallback_flags", "breakers.half_open_within_threshold",
    "breakers.no_unknown", "breakers.positive_integers", "breakers.present", "compose.build_context",
    "compose.depends_on_healthy", "compose.depends_on_match_spec", "compose.image_matches_spec",
    "compose.image_or_build", "compose.images_pinned", "compose.memory_limits", "compose.no_obsolete_version",
    "compose.project_name", "compose.restart_policy", "compose.service_keys", "compose.services_match_spec",
    "compose.stop_signal", "compose.top_level_keys", "degradation.budgets_within_timeout",
    "degradation.contract_defaults", "degradation.interval_gt_timeout", "degradation.recovery_checks",
    "degradation.thresholds_ordered", "degradation.weights_format", "degradation.weights_services",
    "degradation.weights_sum", "env.booleans", "env.compose_env_known", "env.compose_vars_defined",
    "env.example_commented", "env.integers", "env.logging", "env.no_duplicates", "env.secrets_marked",
    "env.spec_vars_defined", "env.staging_mode", "env.urls", "env.user_env_complete", "files.alert_rules",
    "files.alert_tests", "files.compose_env", "files.compose_file", "files.dashboard_package",
    "files.env_example", "files.grafana_dashboards", "files.grafana_datasources", "files.no_leftovers",
    "files.prometheus_config", "files.yaml_parses", "healthchecks.durations_valid", "healthchecks.match_spec",
    "healthchecks.present", "healthchecks.retries_positive", "healthchecks.test_form",
    "healthchecks.timeout_lt_interval", "network.all_attached", "network.declared", "network.no_host_mode",
    "network.not_external", "network.only_declared", "ports.env_ports_valid", "ports.in_range",
    "ports.loopback_bound", "ports.match_spec", "ports.only_published", "ports.unique",
    "ports.urls_consistent", "volumes.bind_sources_exist", "volumes.config_read_only", "volumes.declared",
    "volumes.match_spec", "volumes.prometheus_storage", "volumes.redis_appendonly", "volumes.used",
    "secrets.no_plaintext_in_render", "secrets.example_values_placeholder",
    "prometheus.promtool_check_config", "alerts.promtool_check_rules", "alerts.promtool_test_rules",
    "env.unread_variables", "grafana.datasource_url", "templates.no_undefined",
)
SMOKE_IDS = (
    "smoke.health.live", "smoke.health.ready", "smoke.health.full_report", "smoke.auth.missing_api_key",
    "smoke.auth.invalid_api_key", "smoke.auth.bearer", "smoke.headers.hsts", "smoke.headers.csp",
    "smoke.headers.nosniff", "smoke.ratelimit.enforced", "smoke.metrics.exposed", "smoke.metrics.auth",
    "smoke.database.roundtrip", "smoke.redis.cache_hit", "smoke.redis.session", "smoke.s3.upload",
    "smoke.s3.download", "smoke.logging.json_lines", "smoke.request_id.echo", "smoke.features.matrix",
)
SERVICES = (("postgres", 0.061, 5433), ("redis", 0.021, 6380), ("s3", 0.47, 4566), ("llm", 0.38, 8090),
            ("prometheus", 0.052, 9091), ("dashboard", 1.12, 8080))
CHAOS = (  # name, down, expected, degrade_s, recover_s
    ("redis-down", ["redis"], "DEGRADED", 0.84, 2.31),
    ("s3-down", ["s3"], "DEGRADED", 0.92, 2.05),
    ("openai-down", ["openai"], "DEGRADED", 1.07, 2.44),
    ("openai+s3-down", ["openai", "s3"], "LIMITED", 1.21, 2.62),
    ("database-down", ["database"], "MINIMAL", 0.77, 3.18),
)
BENCH = (  # name, p50, p95, p99, rps, target
    ("GET /health/live", 1.9, 3.8, 6.1, 812.4, 100.0),
    ("GET /health", 3.1, 6.7, 11.2, 455.0, 100.0),
    ("GET /api/inventory", 7.4, 18.9, 31.5, 214.7, 500.0),
    ("GET /api/analytics/summary", 9.8, 24.3, 40.2, 161.0, 500.0),
)


def _validate() -> ValidatePhase:
    checks = [
        CheckResult(id=cid, section=cid.split(".")[0], status="pass", message=f"{cid.split('.', 1)[1].replace('_', ' ')}: ok",
                    location=f"compose/docker-compose.staging.yml:{10 + i * 3}", duration_ms=0.4)
        for i, cid in enumerate(VALIDATE_IDS)
    ]
    return ValidatePhase(status="passed", command="stagectl validate --json", duration_s=1.42, checks=checks)


def _up() -> UpPhase:
    services = [
        ServiceUp(name=n, ready_s=r, state="healthy",
                  check=CheckResult(id=f"up.{n}", section="up", status="pass",
                                    message=f"{n} healthy in {r:.3f} s (port {p})", duration_ms=r * 1000))
        for n, r, p in SERVICES
    ]
    skip = CheckResult(id="up.grafana", section="up", status="skip", message="grafana-server not on PATH")
    return UpPhase(status="passed", command="stagectl up --wait-timeout 60", duration_s=1.31, total_s=1.31,
                   services=services, skipped={"grafana": "grafana-server not on PATH"}, checks=[skip])


def _smoke(failing: bool, secret: str | None) -> SmokePhase:
    checks = [CheckResult(id=i, section=i.split(".")[1], status="pass", message=f"{i.split('.', 1)[1]} ok",
                          duration_ms=12.5) for i in SMOKE_IDS]
    if failing:
        transcript = ("> GET /api/inventory HTTP/1.1\n> X-API-Key: " + (secret or "k") +
                      "\n< HTTP/1.1 200 OK\n< content-type: application/json\n(no X-RateLimit-Limit header)")
        checks[9] = CheckResult(id="smoke.ratelimit.enforced", section="ratelimit", status="fail",
                                message="101 requests in 60 s were all accepted; expected 429 after 100",
                                hint="check DASHBOARD_RATELIMIT_REQUESTS", evidence=transcript, duration_ms=2210.0)
    if secret:
        checks[0] = CheckResult(id="smoke.health.live", section="health", status="pass",
                                message=f"live ok (connected with password {secret})",
                                evidence=f"DATABASE_URL=postgresql://staging:{secret}@127.0.0.1:5433/inventario")
    return SmokePhase(status="failed" if failing else "passed", command="stagectl smoke --json",
                      duration_s=4.8, checks=checks)


def _chaos() -> ChaosPhase:
    scenarios, timeline, t = [], [LevelSample(t_s=0.0, level="OPTIMAL")], 0.0
    for name, down, expected, degrade, recover in CHAOS:
        scenarios.append(ChaosScenario(
            name=name, down=down, expected_level=expected, observed_level=expected, features_ok=True,
            time_to_degrade_s=degrade, time_to_recover_s=recover, restored=True,
            check=CheckResult(id=f"chaos.{name}", section="chaos", status="pass",
                              message=f"{'+'.join(down)} down → {expected} in {degrade:.2f} s, recovered in {recover:.2f} s",
                              evidence=f"t=+{degrade:.2f}s level={expected}\nt=+{degrade + recover:.2f}s level=OPTIMAL")))
        timeline += [LevelSample(t_s=round(t + 0.5, 2), level="OPTIMAL", scenario=name),
                     LevelSample(t_s=round(t + 0.5 + degrade, 2), level=expected, scenario=name),
                     LevelSample(t_s=round(t + 0.5 + degrade + recover, 2), level="OPTIMAL", scenario=name)]
        t = round(t + 0.5 + degrade + recover + 1.0, 2)
    return ChaosPhase(status="passed", command="stagectl chaos --json", duration_s=t, scenarios=scenarios, timeline=timeline)


def _bench() -> BenchPhase:
    endpoints = [
        BenchEndpoint(name=n, n=500, concurrency=10, p50_ms=p50, p95_ms=p95, p99_ms=p99, throughput_rps=rps,
                      errors=0, target_ms=target,
                      check=CheckResult(id="bench." + n.split(" ")[1].strip("/").replace("/", "."), section="bench",
                                        status="pass", message=f"{n}: p95 {p95} ms < {target:.0f} ms (n=500, c=10)"))
        for n, p50, p95, p99, rps, target in BENCH
    ]
    ceiling = BenchMeasurement(name="bare uvicorn GET /", n=500, concurrency=10, p50_ms=0.9, p95_ms=1.7,
                               p99_ms=2.6, throughput_rps=1630.2, errors=0)
    return BenchPhase(status="passed", command="stagectl bench --requests 500 --concurrency 10",
                      duration_s=9.6, endpoints=endpoints, ceiling=ceiling)


def build_sample_report(*, failing: bool = False, secret: str | None = None,
                        omit: tuple[str, ...] = ()) -> Report:
    """The sample: all phases passing unless `failing`; `secret` is planted in evidence, messages and
    a service version; phases named in `omit` are left out (as if they did not run)."""
    phases = {
        "render_check": RenderCheckPhase(status="passed", command="stagectl render --check", duration_s=0.21,
                                         files_checked=7, checks=[CheckResult(
                                             id="render.drift", section="render", status="pass",
                                             message="7 rendered files equal the committed compose/ tree")]),
        "validate": _validate(), "up": _up(), "smoke": _smoke(failing, secret), "chaos": _chaos(),
        "bench": _bench(),
        "teardown": TeardownPhase(status="passed", command="stagectl down", duration_s=0.64,
                                  stopped=[n for n, _, _ in SERVICES], killed=[], leftovers=[],
                                  checks=[CheckResult(id="teardown.leftovers", section="teardown", status="pass",
                                                      message="stopped 6 services, 0 needed SIGKILL")]),
    }
    for name in omit:
        phases.pop(name)
    versions = {"postgres": "PostgreSQL 15.18", "redis": "7.0.15", "s3": "moto 5.2.5", "llm": "stub 0.1.0",
                "prometheus": "2.42.0", "dashboard": "inventario-dashboard 0.1.0"}
    if secret:
        versions["llm"] = f"stub 0.1.0 (key {secret})"
    steps = [StepRecord(name=n, status=p.status, reason=p.reason, duration_s=p.duration_s or 0.0)
             for n, p in phases.items()]
    return Report(
        run_id="run-20261128T093000Z-3f9c", project="inventario-staging", backend="local",
        started_at=T0, finished_at=T0 + dt.timedelta(seconds=38.4),
        outcome="FAILED" if failing else "PASSED", exit_code=1 if failing else 0,
        stagectl_version="0.1.0", python_version="3.11.7", service_versions=versions,
        steps=steps, phases=Phases(**phases),
    )
