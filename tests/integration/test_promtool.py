"""The rendered Prometheus files pass the real promtool: `check config`, `check rules`, and the
alert unit tests (`test rules`), which must also fail when a rule is broken."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stagectl.render import committed_project, render

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not on PATH (apt-get install prometheus)"),
]


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def prom_dir(tmp_path: Path) -> Path:
    """The rendered prometheus/ files in a temp dir, as the compose stack mounts them."""
    result = render(committed_project())
    for path, rendered in result.files.items():
        if path.startswith("prometheus/"):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rendered.content)
    return tmp_path / "prometheus"


def test_check_config_passes_with_the_key_file_and_fails_without_it(prom_dir: Path):
    missing = _promtool("check", "config", "prometheus.staging.yml", cwd=prom_dir)
    assert missing.returncode != 0 and "secrets/dashboard_api_key" in missing.stdout + missing.stderr
    (prom_dir / "secrets").mkdir()
    (prom_dir / "secrets" / "dashboard_api_key").write_text("not-a-real-key\n")
    ok = _promtool("check", "config", "prometheus.staging.yml", cwd=prom_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 rule files found" in ok.stdout and "8 rules found" in ok.stdout


def test_check_rules_finds_the_eight_rules(prom_dir: Path):
    result = _promtool("check", "rules", "alerts.staging.yml", cwd=prom_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_alert_unit_tests_pass(prom_dir: Path):
    result = _promtool("test", "rules", "alerts.staging.test.yml", cwd=prom_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("broken", "replacement"),
    [
        ('{service="database"}', '{service="redis"}'),  # wrong breaker watched
        ("> 0.05", "> 0.5"),  # 5xx threshold ignored
        ("max(dashboard_degradation_level) > 2", "max(dashboard_degradation_level) > 3"),  # LIMITED missed
        ("histogram_quantile(0.95,", "histogram_quantile(0.5,"),  # p50 instead of p95
        ("for: 1m", "for: 0m"),  # fires before its `for:`
    ],
)
def test_alert_unit_tests_catch_a_broken_rule(prom_dir: Path, broken: str, replacement: str):
    alerts = prom_dir / "alerts.staging.yml"
    text = alerts.read_text()
    assert broken in text
    alerts.write_text(text.replace(broken, replacement, 1))
    assert _promtool("check", "rules", "alerts.staging.yml", cwd=prom_dir).returncode == 0
    result = _promtool("test", "rules", "alerts.staging.test.yml", cwd=prom_dir)
    assert result.returncode != 0, f"unit tests still pass with {replacement!r}"
