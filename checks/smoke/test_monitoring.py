"""Monitoring observed live (docs/contract.md §7): the running Prometheus scrapes every target (the
dashboard's with its bearer key) and has the 8 alert rules loaded, none active on a healthy stack.

Static checks only read the files; a scrape with the wrong auth (the dashboard target down with a
401) or a rules file that silently loads nothing passes them and is caught here.
"""

from __future__ import annotations

import re

import httpx
import pytest

from ._support import wait_for

CONTRACT_ALERTS = 8
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _seconds(text: str) -> float:
    parts = _DURATION.findall(text)
    if not parts:
        pytest.fail(f"{text!r} is not a Prometheus duration", pytrace=False)
    return sum(float(n) * _UNIT[u] for n, u in parts)


@pytest.fixture(scope="module")
def prometheus(cfg):
    url = cfg.env.get("STAGECTL_PROMETHEUS_URL") or f"http://127.0.0.1:{cfg.require('PROMETHEUS_PORT')}"
    with httpx.Client(base_url=url.rstrip("/"), timeout=10) as client:
        yield client


def _api(prometheus: httpx.Client, path: str) -> dict:
    response = prometheus.get(path)
    assert response.status_code == 200, f"Prometheus {path}: {response.status_code} {response.text[:200]}"
    return response.json()["data"]


@pytest.mark.local_access("the stack's Prometheus on this machine")
class TestMonitoring:
    def test_every_scrape_target_up(self, cfg, prometheus):
        """Fault: a scrape target down (the dashboard's with a wrong bearer key: 401), or none at all."""
        interval = _seconds(cfg.require("PROMETHEUS_SCRAPE_INTERVAL"))
        last: list[dict] = []

        def all_up():
            last[:] = _api(prometheus, "/api/v1/targets")["activeTargets"]
            return bool(last) and all(t["health"] == "up" for t in last)

        def describe() -> str:
            return "; ".join(f"{t['labels'].get('job')} {t['health']} {t.get('lastError', '')[:120]}" for t in last) or "no targets"

        wait_for(all_up, 3 * interval + 5, "every Prometheus target up", interval=0.5, describe=describe)
        assert "dashboard" in {t["labels"].get("job") for t in last}, describe()

    def test_alert_rules_loaded_and_inactive(self, cfg, prometheus, optimal):
        """Fault: the rules file not loaded (or only part of it), a rule that fails to evaluate, or an
        alert pending/firing on a healthy stack."""
        interval = _seconds(cfg.require("PROMETHEUS_SCRAPE_INTERVAL"))  # the rendered evaluation_interval too
        rules: list[dict] = []

        def loaded_and_quiet():
            groups = _api(prometheus, "/api/v1/rules")["groups"]
            rules[:] = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
            return (len(rules) == CONTRACT_ALERTS and all(r["health"] == "ok" for r in rules)
                    and all(r["state"] == "inactive" for r in rules))

        def describe() -> str:
            return f"{len(rules)} alerting rules: " + ", ".join(f"{r['name']} {r['state']} {r['health']}" for r in rules)

        wait_for(loaded_and_quiet, 2 * interval + 5, f"{CONTRACT_ALERTS} alert rules loaded, healthy and inactive",
                 interval=0.5, describe=describe)
