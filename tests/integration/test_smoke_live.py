"""The smoke suite against a real local stack: all green on a healthy stack, and each deliberately
broken dashboard caught by the test named for it.

One stack per module (unique project name, free ports, fresh secrets, short probe interval and
rate-limit window so the suite's waits stay short). Broken variants are second dashboard
processes on their own free port, pointed at the same services, started from the same launch
description the local backend uses — only the variant's variable differs from what the suite
expects.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stagectl.config.loader import load_project
from stagectl.secrets import is_secret_name
from stagectl.smoke.runner import run_smoke
from stagectl.smoke.target import smoke_target

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
PORT_VARS = ("POSTGRES_PORT", "REDIS_PORT", "S3_PORT", "LLM_STUB_PORT", "DASHBOARD_PORT", "POSTGRES_EXPORTER_PORT",
             "REDIS_EXPORTER_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT")
# Faster, not weaker: the suite reads these same values and expects them.
FAST = {"HEALTH_CHECK_INTERVAL": "1", "HEALTH_CHECK_TIMEOUT": "2", "DASHBOARD_RATELIMIT_WINDOW": "5",
        "OPENAI_CB_RECOVERY_TIMEOUT": "3",
        # a loaded 2-core CI box must not push probes over their budgets (that is bench's job)
        "DB_HEALTH_BUDGET_MS": "2000", "REDIS_HEALTH_BUDGET_MS": "2000", "S3_HEALTH_BUDGET_MS": "3000"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_env_file(path: Path) -> Path:
    """The example env file with every secret replaced by a fresh random value."""
    lines = []
    for line in (REPO / ".env.staging.example").read_text(encoding="utf-8").splitlines():
        name, sep, _ = line.partition("=")
        if sep and not line.startswith("#") and is_secret_name(name.strip()):
            line = f"{name}=smk-{secrets.token_urlsafe(18)}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclasses.dataclass
class Stack:
    env_file: Path
    overrides: dict[str, str]
    tmp: Path

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        sets = [a for k, v in self.overrides.items() for a in ("--set", f"{k}={v}")]
        argv = [sys.executable, "-m", "stagectl", "--env-file", str(self.env_file), *sets, *args]
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
        return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)

    def project(self, **extra: str):
        return load_project(REPO, env_file=self.env_file, overrides={**self.overrides, **extra})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke-live")
    ports = {var: str(free_port()) for var in PORT_VARS}
    overrides = {"COMPOSE_PROJECT_NAME": f"smoke-test-{os.getpid()}", **ports, **FAST,
                 "S3_ENDPOINT_URL": f"http://127.0.0.1:{ports['S3_PORT']}",
                 "OPENAI_BASE_URL": f"http://127.0.0.1:{ports['LLM_STUB_PORT']}/v1"}
    st = Stack(fresh_env_file(tmp / ".env.staging"), overrides, tmp)
    state_dir = st.project().state_dir
    try:
        up = st.cli("up", "--json", "--wait-timeout", "150", timeout=330)
        assert up.returncode == 0, f"stagectl up failed ({up.returncode}):\n{up.stderr[-3000:]}"
        yield st
    finally:
        down = st.cli("down", "--volumes", timeout=120)
        shutil.rmtree(state_dir, ignore_errors=True)
        assert down.returncode == 0, down.stderr[-2000:]


def test_suite_green_on_healthy_stack(stack):
    junit = stack.tmp / "smoke.xml"
    done = stack.cli("smoke", "--json", "--junit", str(junit), "--timeout", "400", timeout=450)
    assert done.stdout.lstrip().startswith("{"), f"exit {done.returncode}, no JSON:\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    bad = [(c["id"], c["status"], c["message"][:300]) for c in report["checks"] if c["status"] != "pass"]
    assert done.returncode == 0, f"exit {done.returncode}; not passed: {bad}"
    summary = report["summary"]
    assert summary["passed"] >= 35 and summary["failed"] == summary["skipped"] == summary["errors"] == 0, summary
    assert junit.is_file() and f'tests="{summary["total"]}"' in junit.read_text()
    secret = stack.project().env["DASHBOARD_API_KEY"]
    assert secret not in done.stdout + done.stderr + junit.read_text()
    print(f"smoke suite: {summary} in {report['duration_s']}s")


class VariantDashboard:
    """A second dashboard process, launched exactly as the local backend launches its own (same
    services), but with `changes` in its environment, on a free port, logging to its own file."""

    def __init__(self, stack: Stack, changes: dict[str, str], app: str | None = None):
        from stagectl.backends.local.runners import RunnerContext, build_launch

        self.port = free_port()
        project = stack.project(**changes, DASHBOARD_PORT=str(self.port))
        ctx = RunnerContext(stack=project.stack, env=project.env, root=project.root, state_dir=project.state_dir)
        launch = build_launch("dashboard", project.stack.services["dashboard"], ctx)
        name = "-".join(changes) or (app or "open-metrics").rsplit(":", 1)[-1]
        self.log = stack.tmp / f"variant-{name}.json.log"
        self.out = stack.tmp / f"variant-{name}.out"
        self.argv = [app if a == "inventario_dashboard.app:create_app" and app else a for a in launch.argv]
        self.env = {**launch.env, "LOG_FILE": str(self.log),
                    "PYTHONPATH": os.pathsep.join([str(REPO), launch.env.get("PYTHONPATH", "")])}
        self.cwd = launch.cwd
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VariantDashboard:
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def wait_live(self) -> VariantDashboard:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"variant dashboard exited {self.proc.returncode}:\n{self.out.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("variant dashboard not live within 90s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


OPEN_METRICS_APP = "tests.integration.smoke_open_metrics_app:create_app"
HARDCODED_S3_APP = "tests.integration.smoke_broken_apps:hardcoded_s3_app"
WILDCARD_CORS_APP = "tests.integration.smoke_broken_apps:wildcard_cors_app"
# variant id → (dashboard changes, replacement app, -k selection, the failures it must cause exactly)
VARIANTS = {
    # staging refuses a switched-off limit (the dashboard's own tests); a development build may run
    # without one, and smoke must still catch it
    "ratelimit-off": ({"ENVIRONMENT": "development", "DASHBOARD_RATELIMIT_ENABLED": "false"}, None, "RateLimiting or ApiKeys",
                      {"smoke.TestRateLimiting.test_limit_plus_one_is_429", "smoke.TestRateLimiting.test_headers_count_down",
                       "smoke.TestRateLimiting.test_passes_again_after_window"}),
    "hsts-off": ({"DASHBOARD_ENABLE_HSTS": "false"}, None, "SecurityHeaders or ApiKeys",
                 {f"smoke.TestSecurityHeaders.test_header[Strict-Transport-Security-{s}]" for s in (200, 401, 429)}),
    "db-breaker-threshold-7": ({"DB_CB_FAILURE_THRESHOLD": "7"}, None, "CircuitBreakers or DeploymentChecklist",
                               {"smoke.TestCircuitBreakers.test_thresholds_match_config[database]",
                                "smoke.TestDeploymentChecklist.test_breaker_configs"}),
    "metrics-without-auth": ({}, OPEN_METRICS_APP, "Metrics", {"smoke.TestMetrics.test_requires_auth"}),
    # the stack's stand-ins listen on random ports, so the default S3 address cannot match
    "s3-endpoint-hardcoded": ({}, HARDCODED_S3_APP, "Endpoints or SecurityHeaders",
                              {"smoke.TestEndpoints.test_endpoint_in_use_matches_config[s3]"}),
    "cors-wildcard-default": ({"DASHBOARD_CORS_ORIGINS": ""}, WILDCARD_CORS_APP, "Cors or Endpoints or SecurityHeaders",
                              {"smoke.TestCors.test_unlisted_origin_gets_no_allow_origin",
                               "smoke.TestCors.test_listed_origin_is_allowed"}),
}


@pytest.fixture(scope="module")
def variant_dashboards(stack):
    """All broken dashboards, started together (their start-up dominates otherwise), always stopped."""
    dashboards = {name: VariantDashboard(stack, changes, app) for name, (changes, app, _, _) in VARIANTS.items()}
    try:
        for dashboard in dashboards.values():
            dashboard.start()
        for dashboard in dashboards.values():
            dashboard.wait_live()
        yield dashboards
    finally:
        for dashboard in dashboards.values():
            dashboard.stop()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_broken_dashboard_is_caught(stack, variant_dashboards, variant):
    _, _, select, expected_failures = VARIANTS[variant]
    expected = smoke_target(stack.project(), target="http://unused")  # what the suite expects: the stack's config
    dashboard = variant_dashboards[variant]
    target = dataclasses.replace(expected, url=dashboard.url, dashboard_log=dashboard.log)
    result = run_smoke(target, select=select, timeout_s=240)
    failed = {r.id for r in result.results if r.failed}
    passed = {r.id for r in result.results if r.status == "pass"}
    assert not result.ok and result.pytest_exit == 1
    assert failed == expected_failures, f"{variant}: failed {sorted(failed)}\n{result.output_tail[-2000:]}"
    assert len(passed) >= 5, f"{variant}: the rest of the selection should pass, passed only {sorted(passed)}"
    print(f"{variant}: caught by {sorted(failed)}; {len(passed)} others passed in {result.duration_s:.1f}s")


class VariantPrometheus:
    """A second Prometheus beside the stack's: the stack's own generated config with one mistake,
    a 2 s scrape/evaluation interval (so the suite's bounded waits stay short), its own port and
    storage."""

    def __init__(self, stack: Stack, name: str, change):
        from shutil import which

        import yaml

        from stagectl.backends.local.promconfig import config_dir

        config = yaml.safe_load((config_dir(stack.project().state_dir) / "prometheus.yml").read_text(encoding="utf-8"))
        config["global"].update(scrape_interval="2s", evaluation_interval="2s")
        change(config, stack.tmp)
        self.port = free_port()
        self.dir = stack.tmp / f"prometheus-{name}"
        self.dir.mkdir()
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        binary = which("prometheus")
        assert binary, "prometheus is not on PATH (apt-get install prometheus)"
        self.argv = [binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}"]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> VariantPrometheus:
        with open(self.dir / "out.log", "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, (self.dir / "out.log").read_text()[-2000:]
            time.sleep(0.2)
        raise AssertionError("variant Prometheus not ready within 30s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)


def _wrong_dashboard_key(config: dict, tmp: Path) -> None:
    wrong = tmp / "wrong_key"
    wrong.write_text("not-the-dashboard-key", encoding="utf-8")
    wrong.chmod(0o600)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "dashboard")
    job["authorization"]["credentials_file"] = str(wrong)


def _rules_not_loaded(config: dict, tmp: Path) -> None:
    # a rules path that matches no file: Prometheus starts happily with no rules at all
    config["rule_files"] = [str(Path(r).with_name("alerts.yml")) for r in config["rule_files"]]


MONITORING_VARIANTS = {
    "dashboard-scrape-wrong-key": (_wrong_dashboard_key, {"smoke.TestMonitoring.test_every_scrape_target_up"}),
    "rules-not-loaded": (_rules_not_loaded, {"smoke.TestMonitoring.test_alert_rules_loaded_and_inactive"}),
}


@pytest.mark.parametrize("variant", list(MONITORING_VARIANTS))
def test_broken_monitoring_is_caught(stack, variant):
    change, expected_failures = MONITORING_VARIANTS[variant]
    expected = smoke_target(stack.project(), target="http://unused")
    dashboard_url = f"http://127.0.0.1:{stack.overrides['DASHBOARD_PORT']}"
    with VariantPrometheus(stack, variant, change) as prometheus:
        env = {**expected.env, "STAGECTL_PROMETHEUS_URL": f"http://127.0.0.1:{prometheus.port}",
               "PROMETHEUS_SCRAPE_INTERVAL": "2s"}
        result = run_smoke(dataclasses.replace(expected, url=dashboard_url, env=env), select="Monitoring", timeout_s=120)
    failed = {r.id for r in result.results if r.failed}
    assert failed == expected_failures, f"{variant}: failed {sorted(failed)}\n{result.output_tail[-2000:]}"
    assert result.pytest_exit == 1 and len(result.results) == 2
    print(f"{variant}: caught by {sorted(failed)} in {result.duration_s:.1f}s")


FIXED_BREAKER_APP = "tests.integration.chaos_fixed_breaker_app:create_app"


@pytest.mark.parametrize(("app", "ok"), [(None, True), (FIXED_BREAKER_APP, False)], ids=["configured", "fixed-30s"])
def test_breaker_timing_follows_the_configured_recovery_timeout(stack, app, ok):
    """chaos's breaker timing on the redis breaker of a dashboard whose configured recovery timeout
    is 3 s: the real breaker goes half-open after ~3 s and closes; one that waits a fixed 30 s fails
    (bounded: the wait ends TOLERANCE_S + 1 s after the configured timeout)."""
    from stagectl.chaos import dashboard_for
    from stagectl.chaos.breaker_timing import measure_breaker
    from stagectl.chaos.faults import FaultTarget
    from stagectl.chaos.runner import ChaosRunner, Timing
    from stagectl.chaos.scenarios import LevelTable
    from stagectl.stack import backend_for

    changes = {"REDIS_CB_RECOVERY_TIMEOUT": "3"}
    dashboard = VariantDashboard(stack, changes, app).start()
    try:
        dashboard.wait_live()
        project = stack.project(**changes, DASHBOARD_PORT=str(dashboard.port))
        probe = dashboard_for(project)
        runner = ChaosRunner(FaultTarget(backend_for("local", project), project.stack, project.env, 60), probe,
                             LevelTable.from_env(project.env), Timing.from_env(project.env, 1.0))
        closed, _ = runner._wait(lambda h: bool(h) and h["services"]["redis"]["circuit_breaker"]["state"] == "closed", 30)
        assert closed, "the variant's redis breaker is not closed to begin with"
        timing = measure_breaker(runner, "redis", 3.0, int(project.env["REDIS_CB_FAILURE_THRESHOLD"]),
                                 int(project.env["REDIS_CB_HALF_OPEN_REQUESTS"]))
        probe.close()
    finally:
        dashboard.stop()
    print(f"breaker timing ({app or 'real'}): {timing.check().message}")
    assert timing.ok is ok, timing.check().message
    if ok:
        assert abs(timing.half_open_after_s - 3.0) <= 1.0 and timing.closed_after_s is not None
    else:
        assert timing.half_open_after_s is None and "no half-open trial within" in timing.problems[0]


def test_breaker_alert_fires_under_chaos_and_prometheus_is_put_back(stack):
    """chaos.alerts on the stack's own Prometheus: while the redis breaker is open its alert goes
    pending or firing (1 s scrape/evaluation and `for: 1s` for the run), it clears after the breaker
    closes, and afterwards Prometheus runs its original config and rules again."""
    from stagectl.chaos import dashboard_for
    from stagectl.chaos.alerts import AlertWatch
    from stagectl.chaos.breaker_timing import measure_breaker
    from stagectl.chaos.faults import FaultTarget
    from stagectl.chaos.runner import ChaosRunner, Timing
    from stagectl.chaos.scenarios import LevelTable
    from stagectl.stack import backend_for

    project = stack.project()
    backend = backend_for("local", project)
    watch = AlertWatch.for_project(project, backend)
    assert watch.unavailable() is None, watch.unavailable()
    original = watch.config.read_text(encoding="utf-8")
    probe = dashboard_for(project)
    runner = ChaosRunner(FaultTarget(backend, project.stack, project.env, 60), probe,
                         LevelTable.from_env(project.env), Timing.from_env(project.env, 1.0))
    e = project.env
    with watch:
        timing = measure_breaker(runner, "redis", float(e["REDIS_CB_RECOVERY_TIMEOUT"]), int(e["REDIS_CB_FAILURE_THRESHOLD"]),
                                 int(e["REDIS_CB_HALF_OPEN_REQUESTS"]), alerts=watch)
    probe.close()
    series = httpx.get(f"{watch.url}/api/v1/query", params={"query": "circuit_breaker_state"}, timeout=5).json()
    print(f"breaker alert: {timing.alert_check().message}; {timing.check().message}; series now: {series['data']}")
    assert timing.ok, timing.check().message
    assert timing.alert_check().status == "pass", timing.alert_check().message
    assert watch.config.read_text(encoding="utf-8") == original
    rules = httpx.get(f"{watch.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    durations = {r["name"]: r["duration"] for g in rules for r in g["rules"]}
    assert durations["RedisCircuitBreakerOpen"] == 120 and len(durations) == 8, durations
