"""The local Prometheus config: rendered jobs and rules kept, targets moved to 127.0.0.1 host
ports, the API key only in a 0600 file; promtool accepts the result."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stagectl.backends.local.promconfig import write_local_config
from stagectl.backends.local.runners import RunnerContext
from stagectl.config.loader import load_project

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed (apt-get install prometheus)")
def test_local_variant_of_rendered_config(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGECTL_SYSTEM_DATA", str(tmp_path / "system"))  # the service home as root
    example = REPO / ".env.staging.example"
    project = load_project(REPO, env_file=example, overrides={"DASHBOARD_PORT": "18080", "PROMETHEUS_PORT": "19091",
                                                                "DASHBOARD_API_KEY": "prom-canary-key"})
    ctx = RunnerContext(project.stack, project.env, REPO, tmp_path)
    path = write_local_config(ctx)
    text = path.read_text()
    config = yaml.safe_load(text)
    targets = {job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]] for job in config["scrape_configs"]}
    assert targets["dashboard"] == ["127.0.0.1:18080"]
    assert targets["prometheus"] == ["127.0.0.1:19091"]
    assert all(t.startswith("127.0.0.1:") for ts in targets.values() for t in ts)
    # a copy beside the config (the checkout may be out of the service user's reach), 0600
    rules = path.parent / "alerts.staging.yml"
    assert config["rule_files"] == [str(rules)]
    assert rules.read_text() == (REPO / "compose/prometheus/alerts.staging.yml").read_text()
    assert os.stat(rules).st_mode & 0o777 == 0o600
    credentials = Path(next(j for j in config["scrape_configs"] if j["job_name"] == "dashboard")["authorization"]["credentials_file"])
    assert credentials.read_text() == "prom-canary-key" and "prom-canary-key" not in text
    assert os.stat(credentials).st_mode & 0o777 == 0o600
    check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
