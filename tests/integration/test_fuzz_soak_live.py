"""The fuzz and soak phases against a real local stack: both pass on the healthy stack, and each
fails on a dashboard with a planted fault (tests/integration/faulty_dashboard_app.py), naming it.

One stack for the module (free ports, fresh secrets; see test_smoke_live.py). The broken
dashboards are second processes on their own ports, pointed at the same services.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from stagectl.fuzz import fuzz_phase
from stagectl.soak import soak_phase
from tests.integration.test_smoke_live import VariantDashboard, stack  # noqa: F401 - the module's stack fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FAULTY_APP = "tests.integration.faulty_dashboard_app:create_app"


def _variant(stack, fault: str) -> VariantDashboard:  # noqa: F811
    dashboard = VariantDashboard(stack, {}, FAULTY_APP)
    dashboard.env["STAGECTL_TEST_FAULT"] = fault
    dashboard.log = stack.tmp / f"faulty-{fault}.json.log"
    dashboard.out = stack.tmp / f"faulty-{fault}.out"
    dashboard.env["LOG_FILE"] = str(dashboard.log)
    return dashboard


@pytest.fixture(scope="module")
def faulty(stack):  # noqa: F811
    dashboards = {fault: _variant(stack, fault) for fault in ("fuzz", "soak")}
    try:
        for d in dashboards.values():
            d.start()
        for d in dashboards.values():
            d.wait_live()
        yield dashboards
    finally:
        for d in dashboards.values():
            d.stop()


def test_fuzz_passes_on_the_real_stack(stack):  # noqa: F811
    phase = fuzz_phase(stack.project(), "local", max_examples=5, time_limit_s=60, seed=7)
    bad = [(c.id, c.message) for c in phase.checks if c.failed]
    assert phase.status == "passed", bad
    assert phase.failures == [] and phase.level_after == "OPTIMAL"
    assert len(phase.per_route) >= 19 and all(n > 0 for n in phase.per_route.values()), phase.per_route
    assert phase.requests == sum(phase.per_route.values()) >= 100
    assert stack.project().env["DASHBOARD_API_KEY"] not in phase.model_dump_json()
    print(f"fuzz on the real stack: {phase.requests} requests, {phase.statuses} in {phase.duration_s}s")


def test_fuzz_catches_a_500_and_a_missing_header(stack, faulty):  # noqa: F811
    phase = fuzz_phase(stack.project(), target=faulty["fuzz"].url, max_examples=10, time_limit_s=60, seed=7)
    assert phase.status == "failed"
    failed = {c.id for c in phase.checks if c.failed}
    assert failed == {"fuzz.answers"}, failed
    server_errors = [f for f in phase.failures if f.status == 500]
    missing = [f for f in phase.failures if f.status == 404 and any("X-Frame-Options" in p for p in f.problems)]
    assert server_errors and {f.path for f in server_errors} == {"/api/inventory"}, phase.failures[:3]
    assert missing, [f.problems for f in phase.failures]
    key = stack.project().env["DASHBOARD_API_KEY"]
    assert key not in phase.model_dump_json()
    # reproducible from the report: its curl command, with the key from the environment, gets the 500 again
    curl = server_errors[0].curl
    assert "$DASHBOARD_API_KEY" in curl
    done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "DASHBOARD_API_KEY": key})
    assert done.stdout.startswith("HTTP/1.1 500"), done.stdout[:300] + done.stderr[-300:]


def test_soak_passes_on_the_real_stack(stack):  # noqa: F811
    phase = soak_phase(stack.project(), "local", duration_s=12, rate_rps=20)
    assert phase.status == "passed", [(c.id, c.message) for c in phase.checks if c.failed]
    # four windows of 3 s at 20/s, and a fifth when a miss was measured once more
    assert phase.errors == 0 and len(phase.windows) in (4, 5) and phase.requests == 60 * len(phase.windows)
    assert phase.rss_start_mb and phase.rss_end_mb and phase.fds_start and phase.fds_end
    assert {"health", "inventory_list", "inventory_create", "inventory_patch", "session_create"} <= set(phase.mix)
    print(f"soak: {json.dumps([w.model_dump() for w in phase.windows])}; rss {phase.rss_start_mb}->{phase.rss_end_mb} MB")


def test_soak_catches_creeping_latency(stack, faulty):  # noqa: F811
    phase = soak_phase(stack.project(), target=faulty["soak"].url, duration_s=16, rate_rps=20)
    assert phase.status == "failed"
    failed = {c.id for c in phase.checks if c.failed}
    assert failed == {"soak.p99_stable"}, [(c.id, c.message) for c in phase.checks]
    assert phase.windows[-1].p99_ms > 2 * phase.windows[0].p99_ms
    assert len(phase.windows) == 5 and "one more window measured after a first miss" in phase.stability_rule  # missed twice
    resources = next(c for c in phase.checks if c.id == "soak.resources")
    assert resources.status == "skip" and "--target" in resources.message
