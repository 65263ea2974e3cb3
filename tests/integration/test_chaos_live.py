"""A real local stack (PostgreSQL, Redis, moto, the LLM stub, the dashboard, Prometheus…) on free
loopback ports under a unique project name; one chaos scenario, the broken-dashboard case, a short
bench (test_bench_live.py shares the stack), then `down --volumes`.

The dashboard is started with a SERVICE_WEIGHTS override (redis 45 instead of 15). Chaos run *with*
the same --set computes the same table and must pass; chaos run *without* it computes the contract's
table — the dashboard's level table is then wrong (redis down: MINIMAL 55 instead of DEGRADED 85)
and the scenario must fail. One stack serves both, so the tier stays near 90 s.
Faults caught: chaos that trusts the dashboard's own level, misses a wrong level table, or leaves
the stack broken; a stack that is not healthy again afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stagectl.config.envfile import parse_env_file
from stagectl.config.newenv import render_env_file

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PORT_VARS = ("POSTGRES_PORT", "REDIS_PORT", "S3_PORT", "LLM_STUB_PORT", "DASHBOARD_PORT", "PROMETHEUS_PORT",
             "POSTGRES_EXPORTER_PORT", "REDIS_EXPORTER_PORT", "GRAFANA_PORT")
WRONG_WEIGHTS = "database:20,openai:30,redis:45,s3:5"


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class LiveStack:
    def __init__(self, env_file: Path, sets: dict[str, str]):
        self.env_file, self.sets = env_file, sets

    def cli(self, *args: str, sets: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        options = [f"--set={k}={v}" for k, v in (self.sets if sets is None else sets).items()]
        return subprocess.run([sys.executable, "-m", "stagectl", "-C", str(REPO), "--env-file", str(self.env_file),
                               *options, *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"})


@pytest.fixture(scope="module")  # torn down when this module is done, not at the end of the whole suite
def live_stack(tmp_path_factory):
    """The stack, up with HEALTH_CHECK_INTERVAL=1 and the wrong weights; torn down (volumes too)."""
    example = REPO / ".env.staging.example"
    text, _ = render_env_file(example.read_text(encoding="utf-8"), parse_env_file(example))
    env_file = tmp_path_factory.mktemp("chaos-env") / ".env.staging"
    env_file.write_text(text, encoding="utf-8")
    env_file.chmod(0o600)
    sets = {"COMPOSE_PROJECT_NAME": f"chaos-test-{os.getpid()}", "HEALTH_CHECK_INTERVAL": "1",
            **dict(zip(PORT_VARS, map(str, free_ports(len(PORT_VARS)))))}
    stack = LiveStack(env_file, {**sets, "SERVICE_WEIGHTS": WRONG_WEIGHTS})
    try:
        up = stack.cli("up", "--wait-timeout", "90", "--json", timeout=150)
        assert up.returncode == 0, up.stderr[-2000:]
        yield stack
    finally:
        down = stack.cli("down", "--volumes", timeout=90)
        assert down.returncode == 0, down.stderr[-2000:]
        shutil.rmtree(REPO / ".stagectl" / sets["COMPOSE_PROJECT_NAME"], ignore_errors=True)  # logs, state


def _chaos(stack: LiveStack, sets=None) -> tuple[int, dict]:
    done = stack.cli("chaos", "--scenario", "redis-down-cache-bypass", "--json", sets=sets, timeout=120)
    assert done.stdout.strip(), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


def test_chaos_scenario_passes_when_the_dashboard_follows_the_projects_table(live_stack):
    code, run = _chaos(live_stack)
    (scenario,) = run["scenarios"]
    assert (scenario["expected_level"], scenario["expected_score"]) == ("MINIMAL", 55.0)
    assert scenario["observed_level"] == "MINIMAL" and scenario["features_ok"], scenario
    assert scenario["enforcement"] == [] and scenario["restored"], scenario
    assert scenario["time_to_degrade_s"] is not None and scenario["time_to_recover_s"] is not None
    assert code == 0 and scenario["status"] == "pass" and run["summary"]["final_healthy"], run["summary"]
    assert {"t", "level", "score"} <= set(run["timeline"][0])
    assert {p["level"] for p in run["timeline"]} >= {"OPTIMAL", "MINIMAL"}


def test_chaos_fails_a_dashboard_whose_level_table_is_wrong(live_stack):
    contract = {k: v for k, v in live_stack.sets.items() if k != "SERVICE_WEIGHTS"}
    code, run = _chaos(live_stack, sets=contract)
    (scenario,) = run["scenarios"]
    assert (scenario["expected_level"], scenario["expected_score"]) == ("DEGRADED", 85.0)
    assert (scenario["observed_level"], scenario["observed_score"]) == ("MINIMAL", 55.0)
    assert scenario["status"] == "fail" and code == 1
    assert scenario["restored"] and run["summary"]["final_healthy"], "the stack is whole again after the failure"


def test_short_bench_measures_every_target_without_hitting_the_limiter(live_stack):
    done = live_stack.cli("bench", "--requests", "40", "--concurrency", "10", "--direct-count", "40",
                          "--time-limit", "20", "--json", timeout=120)
    assert done.stdout.strip(), done.stderr[-2000:]
    run = json.loads(done.stdout)
    targets = {t["name"]: t for t in run["targets"]}
    assert set(targets) == {"ceiling_hello", "health", "inventory_list", "inventory_write", "analytics_summary",
                            "db_query", "redis_op", "s3_op"}
    for t in targets.values():
        assert t["count"] == 40 and t["rate_limited"] == 0 and t["errors"] == 0, t
        assert 0 < t["p50_ms"] <= t["p95_ms"] <= t["p99_ms"], t
    assert targets["health"]["ratio_p50_to_ceiling"] > 0 and targets["db_query"]["limit_var"] == "PERF_DB_QUERY_MS"
    assert run["summary"]["cleanup"] == "bench items removed"
    # the verdict follows the numbers (this machine may be loaded: pass or fail, never inconsistent)
    assert done.returncode == (0 if all(t["status"] == "pass" for t in run["targets"]) else 1)


def test_ctrl_c_during_a_fault_restores_it(live_stack):
    status = json.loads(live_stack.cli("status", "--json").stdout)
    redis = psutil.Process(next(s["pid"] for s in status["services"] if s["name"] == "redis"))
    options = [f"--set={k}={v}" for k, v in live_stack.sets.items()]
    proc = subprocess.Popen([sys.executable, "-m", "stagectl", "-C", str(REPO), "--env-file", str(live_stack.env_file),
                             *options, "chaos", "--scenario", "redis-frozen", "--json"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 40
        while redis.status() != psutil.STATUS_STOPPED:
            assert time.monotonic() < deadline and proc.poll() is None, "the freeze never took effect"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert redis.status() != psutil.STATUS_STOPPED, "the frozen redis must be resumed"


def _view(stack: LiveStack) -> dict:
    done = stack.cli("status", "--json", timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_status_shows_the_redis_breaker_open_while_redis_is_stopped(live_stack):
    """Fault: a status view that says nothing about the dashboard's breakers and level during a
    fault, or per-service stop/start that leaves the stack degraded."""
    before = _view(live_stack)
    assert before["dashboard"]["breakers"]["redis"] == "closed", before["dashboard"]
    stop = live_stack.cli("stop", "redis")
    assert stop.returncode == 0, stop.stderr[-2000:]
    try:
        deadline = time.monotonic() + 60
        view = _view(live_stack)
        while view["dashboard"]["breakers"].get("redis") != "open" and time.monotonic() < deadline:
            time.sleep(1)
            view = _view(live_stack)
        assert view["dashboard"]["breakers"]["redis"] == "open", view["dashboard"]
        assert view["dashboard"]["level"] != "OPTIMAL"
        rows = {s["name"]: s for s in view["services"]}
        assert rows["redis"]["state"] == "stopped" and rows["postgres"]["state"] == "healthy"
    finally:
        start = live_stack.cli("start", "redis", timeout=120)
        assert start.returncode == 0, start.stderr[-2000:]
    deadline = time.monotonic() + 90
    view = _view(live_stack)
    while view["dashboard"]["level"] != "OPTIMAL" and time.monotonic() < deadline:
        time.sleep(1)
        view = _view(live_stack)
    assert view["dashboard"]["level"] == "OPTIMAL" and view["dashboard"]["breakers"]["redis"] == "closed"
