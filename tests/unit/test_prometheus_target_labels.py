"""prometheus.target_labels_kept: the dashboard's `service` label must reach the alert rules."""

from __future__ import annotations

from tests.unit.fixtures_checks.helpers import PROM, copy_stack, edit_yaml, run

CHECK = "prometheus.target_labels_kept"


def _dashboard_job(d):
    return d["scrape_configs"][0]


def test_target_label_service_without_honor_labels_fails(tmp_path):
    root = copy_stack(tmp_path)
    edit_yaml(root, PROM, lambda d: _dashboard_job(d)["static_configs"][0].update(labels={"service": "dashboard"}))
    [result] = run(root, CHECK)
    assert result.status == "fail" and "service" in result.message and "honor_labels" in result.message


def test_honor_labels_keeps_the_dashboards_own(tmp_path):
    root = copy_stack(tmp_path)
    edit_yaml(root, PROM, lambda d: (_dashboard_job(d)["static_configs"][0].update(labels={"service": "dashboard"}),
                                     _dashboard_job(d).update(honor_labels=True)))
    assert {r.status for r in run(root, CHECK)} == {"pass"}


def test_a_label_no_rule_selects_on_is_fine(tmp_path):
    root = copy_stack(tmp_path)
    edit_yaml(root, PROM, lambda d: _dashboard_job(d)["static_configs"][0].update(labels={"team": "retail"}))
    assert {r.status for r in run(root, CHECK)} == {"pass"}
